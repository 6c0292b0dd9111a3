"""Deterministic prose on the input's topic, shaped by the field it fills.

Sentences are built from the templates in :mod:`engine.offline.templates`, with topic
phrases from :mod:`engine.offline.phrases`, chosen by a seeded random generator: the same
seed and input give the same text, a different seed different text. The shape follows
the field's name and description: a title is a short line, a summary two or three
sentences, comments read like a critique, a body or sections several paragraphs.
"""

from __future__ import annotations

import random
import re

from engine.offline.phrases import title_case
from engine.offline.templates import (
    BODY,
    CLOSERS,
    COMPANIONS,
    CON,
    CRITIQUE,
    CRITIQUE_ON_TOPIC,
    FALLBACK_TOPICS,
    FINISH_THOUGHT,
    LINES,
    OPENERS,
    PRO,
    THOUGHTS,
    TITLES,
    TOOL_THOUGHT,
)

TITLE_NAMES = ("title", "headline", "heading", "name", "subject", "label", "caption", "slug")
PLACE_NAMES = ("city", "location", "place", "country", "person", "company", "author")
FILE_NAMES = ("file", "path")
URL_NAMES = ("url", "link", "website")
EMAIL_NAMES = ("email", "mail")
SHORT_NAMES = ("keyword", "tag", "topic", "category", "author", "city", "query", "term", "word")
SUMMARY_NAMES = ("summary", "abstract", "tldr", "synopsis", "description", "digest", "overview")
CRITIQUE_NAMES = ("comment", "critique", "feedback", "review", "suggestion", "improvement")
LONG_NAMES = (
    "section",
    "body",
    "content",
    "text",
    "article",
    "post",
    "essay",
    "draft",
    "story",
    "argument",
    "analysis",
    "report",
    "html",
    "markdown",
    "answer",
    "response",
)
PARAGRAPH_NAMES = ("paragraph",)
LINE_NAMES = ("point", "one line", "one sentence", "claim", "thesis", "highlight", "takeaway")
REASON_NAMES = ("reasoning", "thought", "rationale", "explanation")


def kind_for(name: str, hint: str = "") -> str:
    """The shape of text for a field: from its description when that is telling, else its name.

    A description like "Section headings" beats the name `sections`; a generic one
    ("the body of the Review") is ignored, since it names the model, not the shape.
    """
    generic = re.match(rf"^the {re.escape(name)} of the \w+$", hint.strip(), re.IGNORECASE)
    if hint and not generic:
        kind = kind_of(hint)
        if kind != "default":
            return kind
    return kind_of(name)


def kind_of(name: str) -> str:
    """Which shape of text a field called `name` wants."""
    lowered = name.lower()
    for kind, names in (
        ("file", FILE_NAMES),
        ("url", URL_NAMES),
        ("email", EMAIL_NAMES),
        ("place", PLACE_NAMES),
        ("long", PARAGRAPH_NAMES),
        ("reason", REASON_NAMES),
        ("title", TITLE_NAMES),
        ("summary", SUMMARY_NAMES),
        ("critique", CRITIQUE_NAMES),
        ("long", LONG_NAMES),
        ("line", LINE_NAMES),
        ("short", SHORT_NAMES),
    ):
        if any(n in lowered for n in names):
            return kind
    return "default"


class Prose:
    """Text generator bound to a topic (salient words) and a random generator."""

    def __init__(self, words: list[str], rng: random.Random, stance: str | None = None) -> None:
        self.words = list(words) or list(FALLBACK_TOPICS[:1])
        self.rng = rng
        self.stance = {"pro": PRO, "con": CON}.get(stance or "")
        self._decks: dict[int, list[str]] = {}

    def _draw(self, pool: tuple[str, ...]) -> str:
        """Templates without repetition until the pool is used up, then reshuffled."""
        deck = self._decks.get(id(pool))
        if not deck:
            deck = list(pool)
            self.rng.shuffle(deck)
            self._decks[id(pool)] = deck
        return deck.pop()

    # -- slots -------------------------------------------------------------------------------
    def _topic(self) -> str:
        return self.words[0]

    def _other(self, topic: str) -> str:
        pool = [w for w in self.words if w != topic]
        if not pool or self.rng.random() < 0.25:
            pool = pool + list(COMPANIONS)
        return self.rng.choice(pool)

    def _fill(self, template: str) -> str:
        t = self._topic()
        u = self._other(t)
        return template.format(t=t, T=t[:1].upper() + t[1:], u=u, U=title_case(u))

    def _sentences(self, pool: tuple[str, ...], count: int) -> list[str]:
        return [self._fill(self._draw(pool)) for _ in range(count)]

    # -- shapes ------------------------------------------------------------------------------
    def title(self) -> str:
        t = self.words[0]
        u = self._other(t)
        return self._draw(TITLES).format(T=title_case(t), U=title_case(u))

    def phrase(self) -> str:
        return self.rng.choice(self.words[:4])

    def slug(self) -> str:
        """The topic as a safe file-name stem: lowercase letters, digits and dashes."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.words[0].lower()).strip("-")
        return slug or "note"

    def proper_name(self) -> str:
        """A phrase that looks like a name (capitalised in the input), else a phrase."""
        names = [w for w in self.words if w[:1].isupper()]
        return self.rng.choice(names) if names else self.phrase()

    def sentences(self, count: int) -> str:
        """`count` body sentences; with a stance, about two in three argue it."""
        out = []
        for _ in range(count):
            pool = self.stance if self.stance and self.rng.random() < 0.65 else BODY
            out.append(self._fill(self._draw(pool)))
        return " ".join(out)

    def line(self) -> str:
        """One sentence: a point, a claim, a highlight."""
        return self._fill(self._draw(self.stance or LINES))

    def summary(self) -> str:
        return " ".join([self._fill(self._draw(OPENERS)), self.sentences(self.rng.randint(1, 2))])

    def critique(self) -> str:
        # The first point names the topic; the others may be general.
        first = self._fill(self._draw(CRITIQUE_ON_TOPIC))
        rest = [s for s in self._sentences(CRITIQUE, 3) if s != first]
        return " ".join([first, *rest[: self.rng.randint(1, 2)]])

    def thought(self) -> str:
        return self._fill(self._draw(THOUGHTS))

    def tool_thought(self, tool: str) -> str:
        return f"{self.thought()} {TOOL_THOUGHT.format(n=tool)}"

    def finish_thought(self) -> str:
        return FINISH_THOUGHT.format(t=self.words[0])

    def paragraphs(self, count: int) -> str:
        paras = [" ".join([self._fill(self._draw(OPENERS)), self.sentences(2)])]
        for _ in range(count - 2):
            paras.append(self.sentences(self.rng.randint(2, 3)))
        if count >= 2:
            closer = self._draw(self.stance or CLOSERS)
            paras.append(" ".join([self.sentences(1), self._fill(closer)]))
        return "\n\n".join(paras)

    def for_field(self, name: str, *, nested: bool = False, hint: str = "") -> str:
        """Text shaped for a field called `name` (shorter when nested inside JSON)."""
        kind = kind_for(name, hint)
        if kind == "title":
            return self.title()
        if kind == "file":
            return f"{self.slug()}.html" if "html" in name.lower() else f"{self.slug()}.txt"
        if kind == "url":
            return f"https://example.com/{self.slug()}"
        if kind == "email":
            return f"{self.slug().replace('-', '.')}@example.com"
        if kind == "place":
            return self.proper_name()
        if kind == "short":
            return self.phrase()
        if kind == "reason":
            return self.thought() if nested else f"{self.thought()} {self.sentences(1)}"
        if kind == "summary":
            return self.sentences(1) if nested else self.summary()
        if kind == "line":
            return self.line()
        if kind == "critique":
            return self.critique()
        if kind == "long":
            return self.sentences(2) if nested else self.paragraphs(self.rng.randint(2, 3))
        return self.sentences(1) if nested else self.sentences(self.rng.randint(2, 3))
