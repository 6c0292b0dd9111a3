"""Deterministic prose on the input's topic.

Salient words are taken from the input values; sentences are built from templates
chosen by a seeded random generator, so the same seed and input give the same text
and a different seed gives different text. The shape of the text follows the field
name: a title is a short line, a summary two or three sentences, comments read like
a critique, a body or sections several paragraphs.
"""

from __future__ import annotations

import random
import re
from collections import Counter

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    yourself yourselves n/a none null true false yes new one two three use used using via per
    etc may might must shall want wants make makes made get gets got let lets like well way
    write writes written produce output input field fields value values given task respond
    json schema type str int float bool list dict thought tool name args observation finish
    completed trajectory next step steps agent following corresponding""".split()
)
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")
_JSON_KEY_RE = re.compile(r'"\w+"\s*:')

FALLBACK_TOPICS = ("the subject", "the idea", "the project")

_OPENERS = (
    "{T} is worth a closer look.",
    "Most people meet {t} long before they think hard about it.",
    "At first glance {t} seems simple, but the details matter.",
    "The story of {t} is really a story about {u}.",
    "Anyone who spends time with {t} soon notices how much it shapes {u}.",
    "{T} sits at the point where {u} meets everyday practice.",
)
_BODY = (
    "A good starting point is to ask what {t} changes for the people involved.",
    "The strongest case for {t} rests on {u} and on the habits it builds.",
    "Critics point out that {t} can hide real costs, especially around {u}.",
    "In practice, {t} works best when {u} is planned from the start.",
    "The numbers around {u} tell a clearer story than the slogans do.",
    "Small choices about {u} add up, and {t} makes that visible.",
    "It helps to compare {t} with the way {u} was handled a decade ago.",
    "The most useful lesson from {t} is that {u} rewards patience.",
    "Teams that take {t} seriously usually start by measuring {u}.",
    "There is a quieter side to {t}: the steady work of getting {u} right.",
    "Not every claim about {t} holds up, but the core idea about {u} does.",
    "A concrete example makes {t} easier to judge than any abstract argument.",
    "The open question is how {t} will scale as {u} keeps changing.",
    "What ties it together is a simple rule: treat {u} as part of {t}, not an afterthought.",
)
_CLOSERS = (
    "In short, {t} deserves attention, and {u} is where to begin.",
    "The takeaway is simple: understand {u} and {t} starts to make sense.",
    "Handled with care, {t} can become a real strength.",
    "That is why {t} keeps coming back as a topic worth writing about.",
)
_CRITIQUE = (
    "The piece on {t} has a clear goal, but the opening takes too long to reach it.",
    "The argument about {u} needs a concrete example to be convincing.",
    "Several paragraphs repeat the same point about {t}; tighten them.",
    "The structure is easy to follow, though the conclusion feels rushed.",
    "Headings could carry more of the keywords readers search for, such as {u}.",
    "The tone is friendly, yet some claims about {t} lack a source.",
    "A stronger title would promise a specific benefit instead of a general theme.",
    "The summary should state the main finding about {u} in one sentence.",
)
_TITLES = (
    "Why {T} Matters More Than You Think",
    "{T}: A Practical Guide",
    "The Hidden Side of {T}",
    "What {T} Teaches Us About {U}",
    "{T} and {U}, Explained",
    "A Fresh Look at {T}",
    "Getting {T} Right",
    "{T} in Five Honest Lessons",
)
_THOUGHTS = (
    "I need more information about {t} before I can answer.",
    "The question is about {t}, so I should look into {u} first.",
    "To handle {t} well I will gather the relevant facts about {u}.",
)

TITLE_NAMES = ("title", "headline", "heading", "name", "subject", "label", "caption", "slug")
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
REASON_NAMES = ("reasoning", "thought", "rationale", "explanation")


def salient_words(text: str, limit: int = 6) -> list[str]:
    """The most frequent non-stopwords of `text`, ties broken by first appearance."""
    text = _JSON_KEY_RE.sub(" ", text)
    words = [w.lower().strip("'-") for w in _WORD_RE.findall(text)]
    words = [w for w in words if w and w not in STOPWORDS and len(w) > 2]
    counts = Counter(words)
    first: dict[str, int] = {}
    for i, w in enumerate(words):
        first.setdefault(w, i)
    ranked = sorted(counts, key=lambda w: (-counts[w], first[w]))
    return ranked[:limit]


def kind_of(name: str) -> str:
    """Which shape of text a field called `name` wants."""
    lowered = name.lower()
    for kind, names in (
        ("reason", REASON_NAMES),
        ("title", TITLE_NAMES),
        ("summary", SUMMARY_NAMES),
        ("critique", CRITIQUE_NAMES),
        ("long", LONG_NAMES),
        ("short", SHORT_NAMES),
    ):
        if any(n in lowered for n in names):
            return kind
    return "default"


class Prose:
    """Text generator bound to a topic (salient words) and a random generator."""

    def __init__(self, words: list[str], rng: random.Random) -> None:
        self.words = list(words) or list(FALLBACK_TOPICS[:1])
        self.rng = rng
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
        if len(self.words) >= 2 and self.rng.random() < 0.35:
            return f"{self.words[0]} {self.words[1]}"
        return self.words[0]

    def _other(self) -> str:
        pool = self.words[1:] or [self.words[0]]
        return self.rng.choice(pool)

    def _fill(self, template: str) -> str:
        t = self._topic()
        u = self._other()
        if u == t:
            u = f"the basics of {t}"
        return template.format(t=t, T=t[:1].upper() + t[1:], u=u, U=u.title())

    def _sentences(self, pool: tuple[str, ...], count: int) -> list[str]:
        return [self._fill(self._draw(pool)) for _ in range(count)]

    # -- shapes ------------------------------------------------------------------------------
    def title(self) -> str:
        t = self.words[0]
        u = self._other()
        template = self._draw(_TITLES)
        return template.format(T=t.title(), U=u.title() if u != t else "Everyday Life")

    def phrase(self, max_words: int = 4) -> str:
        count = self.rng.randint(1, max(1, min(max_words, len(self.words))))
        start = self.rng.randrange(len(self.words))
        picked = [self.words[(start + i) % len(self.words)] for i in range(count)]
        return " ".join(dict.fromkeys(picked))

    def sentences(self, count: int) -> str:
        body = self._sentences(_BODY, count)
        return " ".join(body)

    def summary(self) -> str:
        return " ".join([self._fill(self._draw(_OPENERS)), self.sentences(self.rng.randint(1, 2))])

    def critique(self) -> str:
        return " ".join(self._sentences(_CRITIQUE, self.rng.randint(2, 3)))

    def thought(self) -> str:
        return self._fill(self._draw(_THOUGHTS))

    def paragraphs(self, count: int) -> str:
        paras = [" ".join([self._fill(self._draw(_OPENERS)), self.sentences(2)])]
        for _ in range(count - 2):
            paras.append(self.sentences(self.rng.randint(2, 3)))
        if count >= 2:
            paras.append(" ".join([self.sentences(1), self._fill(self._draw(_CLOSERS))]))
        return "\n\n".join(paras)

    def for_field(self, name: str, *, nested: bool = False) -> str:
        """Text shaped for a field called `name` (shorter when nested inside JSON)."""
        kind = kind_of(name)
        if kind == "title":
            return self.title()
        if kind == "short":
            return self.phrase(3)
        if kind == "reason":
            return self.thought() if nested else f"{self.thought()} {self.sentences(1)}"
        if kind == "summary":
            return self.sentences(1) if nested else self.summary()
        if kind == "critique":
            return self.critique()
        if kind == "long":
            return self.sentences(2) if nested else self.paragraphs(self.rng.randint(2, 3))
        return self.sentences(1) if nested else self.sentences(self.rng.randint(2, 3))
