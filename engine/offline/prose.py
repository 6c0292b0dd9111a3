"""Deterministic prose on the input's topic.

Key phrases are taken from the input values; sentences are built from templates
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
    completed trajectory next step steps agent following corresponding every entire whole
    several many much lot lots really still even ever already often always never
    something anything everything nothing""".split()
)
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")
_JSON_KEY_RE = re.compile(r'"\w+"\s*:')
_CLAUSE_RE = re.compile(r"[.,;:!?()\[\]{}\"\n]+")
_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
_SMALL_WORDS = frozenset("a an and as at but by for in of on or the to vs with".split())
COMPANIONS = (
    "everyday life",
    "the people involved",
    "the long run",
    "small teams",
    "the hidden costs",
    "first principles",
)

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

_TOOL_THOUGHT = "I will call {n} to find out."
_FINISH_THOUGHT = "I now have what I need about {t}, so I can finish."


def _template_regex(template: str) -> re.Pattern[str]:
    """A regex matching text made from `template`, capturing its topic slots."""
    parts = re.split(r"(\{\w\})", template)
    pattern = "".join(
        r"([^.!?:;\n\"]{1,80}?)" if re.fullmatch(r"\{\w\}", p) else re.escape(p) for p in parts
    )
    return re.compile(pattern)


_OWN_SENTENCES = tuple(
    _template_regex(t)
    for t in (*_OPENERS, *_BODY, *_CLOSERS, *_CRITIQUE, *_THOUGHTS, _TOOL_THOUGHT, _FINISH_THOUGHT)
)
_OWN_TITLES = tuple(re.compile(f"^{_template_regex(t).pattern}$") for t in _TITLES)
_COMPANION_SET = frozenset(COMPANIONS)


def strip_own_text(text: str) -> str:
    """Replace sentences this model wrote (an upstream offline agent) by their topic slots.

    When one agent reads another's offline text, only the topics it was about count,
    not the template's words, so the topic does not drift from agent to agent.
    """

    def slots(match: re.Match[str]) -> str:
        kept = [g.strip() for g in match.groups() if g and g.strip().lower() not in _COMPANION_SET]
        return "\n" + "\n".join(kept) + "\n"

    lines = []
    for line in text.split("\n"):
        for title in _OWN_TITLES:
            match = title.match(line.strip())
            if match:
                line = slots(match)
                break
        lines.append(line)
    text = "\n".join(lines)
    for regex in _OWN_SENTENCES:
        text = regex.sub(slots, text)
    return text


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


def _stem(word: str) -> str:
    """A crude singular form for counting ("buses" and "bus" count together)."""
    w = word.lower()
    if len(w) > 4 and w.endswith("es") and not w.endswith("ies"):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def _is_content(word: str) -> bool:
    lowered = word.lower()
    return len(word) > 2 and word.isalpha() and lowered not in STOPWORDS


def _capitalised(texts: list[str]) -> set[str]:
    """Words written capitalised more often than not where case is free (mid-clause)."""
    upper: Counter[str] = Counter()
    lower: Counter[str] = Counter()
    for text in texts:
        for clause in _CLAUSE_RE.split(_JSON_KEY_RE.sub(" ", text)):
            for i, word in enumerate(_TOKEN_RE.findall(clause)):
                if word.isupper() and len(word) > 1:
                    upper[word.lower()] += 2
                elif i > 0 and word[:1].isupper():
                    upper[word.lower()] += 1
                elif word[:1].islower():
                    lower[word.lower()] += 1
    return {w for w in upper if upper[w] > lower[w]}


def _runs(text: str, capitals: set[str]) -> list[list[str]]:
    """Runs of up to three consecutive content words, clause by clause."""
    runs: list[list[str]] = []
    for clause in _CLAUSE_RE.split(_JSON_KEY_RE.sub(" ", text)):
        current: list[str] = []
        for raw in _TOKEN_RE.findall(clause):
            word = raw.strip("'-")
            if _is_content(word):
                current.append(word if word.lower() in capitals else word.lower())
            elif current:
                runs.append(current)
                current = []
        if current:
            runs.append(current)
    return [run[i : i + 3] for run in runs for i in range(0, len(run), 3)]


def key_phrases(texts: list[str], limit: int = 6) -> list[str]:
    """Topic phrases of the inputs, the weightiest first (it is the topic).

    A phrase is a run of up to three consecutive content words ("urban beekeeping",
    "city rooftops"). Phrases are ranked by the summed frequency of their words across
    the inputs (plurals counted with singulars), the very first phrase getting a bonus,
    then by first appearance.
    """
    texts = [strip_own_text(t) for t in texts]
    texts = [t for t in texts if t.strip() and t.strip().lower() not in ("n/a", "none")]
    if not texts:
        return []
    capitals = _capitalised(texts)
    counts = Counter(_stem(w) for t in texts for run in _runs(t, capitals) for w in run)
    ordered: list[list[str]] = []
    for t in texts:
        ordered.extend(_runs(t, capitals))
    if not ordered:
        return []
    lead = ordered[0]
    position = {id(r): i for i, r in enumerate(ordered)}

    def weight(run: list[str]) -> float:
        # Frequency carries the topic through agents that read each other's text (and
        # favours specific multi-word phrases); the very first phrase wins near-ties.
        return sum(counts[_stem(w)] for w in run) + (1.5 if run is lead else 0.0)

    ranked = sorted(ordered, key=lambda r: (-weight(r), position[id(r)]))
    chosen: list[list[str]] = []
    covered: set[str] = set()
    for run in ranked:
        if len(chosen) >= limit:
            break
        lowered = {w.lower() for w in run}
        if lowered <= covered:
            continue
        chosen.append(run)
        covered |= lowered
    return [" ".join(run) for run in chosen]


def title_case(phrase: str) -> str:
    """Capitalise words (small words stay lower unless first); keep existing capitals."""
    words = phrase.split()
    out = []
    for i, w in enumerate(words):
        if i > 0 and w.lower() in _SMALL_WORDS:
            out.append(w.lower())
        else:
            out.append(w[:1].upper() + w[1:])
    return " ".join(out)


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
        return self._draw(_TITLES).format(T=title_case(t), U=title_case(u))

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
        body = self._sentences(_BODY, count)
        return " ".join(body)

    def summary(self) -> str:
        return " ".join([self._fill(self._draw(_OPENERS)), self.sentences(self.rng.randint(1, 2))])

    def critique(self) -> str:
        return " ".join(self._sentences(_CRITIQUE, self.rng.randint(2, 3)))

    def thought(self) -> str:
        return self._fill(self._draw(_THOUGHTS))

    def tool_thought(self, tool: str) -> str:
        return f"{self.thought()} {_TOOL_THOUGHT.format(n=tool)}"

    def finish_thought(self) -> str:
        return _FINISH_THOUGHT.format(t=self.words[0])

    def paragraphs(self, count: int) -> str:
        paras = [" ".join([self._fill(self._draw(_OPENERS)), self.sentences(2)])]
        for _ in range(count - 2):
            paras.append(self.sentences(self.rng.randint(2, 3)))
        if count >= 2:
            paras.append(" ".join([self.sentences(1), self._fill(self._draw(_CLOSERS))]))
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
        if kind == "critique":
            return self.critique()
        if kind == "long":
            return self.sentences(2) if nested else self.paragraphs(self.rng.randint(2, 3))
        return self.sentences(1) if nested else self.sentences(self.rng.randint(2, 3))
