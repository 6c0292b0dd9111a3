"""Topic phrases of the input: what the offline model writes about.

A phrase is a run of up to three consecutive content words of an input value
("urban beekeeping", "city rooftops"); names keep their capitals.
"""

from __future__ import annotations

import re
from collections import Counter

from engine.offline.templates import strip_own_text

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
    analyses analyse analyze analyzes checks writes reads argues weighs declares reviews
    persuasively impartial desk
    something anything everything nothing""".split()
)
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")
_JSON_KEY_RE = re.compile(r'"\w+"\s*:')
_CLAUSE_RE = re.compile(r"[.,;:!?()\[\]{}\"\n]+")
_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
_SMALL_WORDS = frozenset("a an and as at but by for in of on or the to vs with".split())


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


MAX_TEXT = 20_000  # characters read per input value
MAX_TEXTS = 32  # input values read


def key_phrases(texts: list[str], limit: int = 6) -> list[str]:
    """Topic phrases of the inputs, the weightiest first (it is the topic).

    A phrase is a run of up to three consecutive content words ("urban beekeeping",
    "city rooftops"). Phrases are ranked by the summed frequency of their words across
    the inputs (plurals counted with singulars), the very first phrase getting a bonus,
    then by first appearance.
    """
    texts = [strip_own_text(t[:MAX_TEXT]) for t in texts[:MAX_TEXTS]]
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
