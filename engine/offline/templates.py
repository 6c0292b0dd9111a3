"""The sentence templates of the offline model, and how to recognise its own text.

Every sentence the model writes comes from these pools, with topic phrases in the
``{t}``/``{T}`` (topic) and ``{u}``/``{U}`` (a second phrase) slots. Because the pools are
known, :func:`strip_own_text` can reduce text written by an upstream offline agent back
to the topic phrases it was about, so topics do not drift along a chain of agents.
"""

from __future__ import annotations

import re

COMPANIONS = (
    "everyday life",
    "the people involved",
    "the long run",
    "small teams",
    "the hidden costs",
    "first principles",
)

FALLBACK_TOPICS = ("the subject", "the idea", "the project")

OPENERS = (
    "{T} is worth a closer look.",
    "Most people meet {t} long before they think hard about it.",
    "At first glance {t} seems simple, but the details matter.",
    "The story of {t} is really a story about {u}.",
    "Anyone who spends time with {t} soon notices how much it shapes {u}.",
    "{T} sits at the point where {u} meets everyday practice.",
    "Few subjects divide opinion quite like {t}.",
    "Ask ten people about {t} and you will hear ten different stories.",
    "{T} has moved from the margins to the centre of the conversation.",
    "The first thing to understand about {t} is how it connects to {u}.",
)
BODY = (
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
    "The early results from {t} are promising, though {u} remains the hard part.",
    "One overlooked detail is how {t} changes the daily routine around {u}.",
    "People who work closely with {t} describe it in practical, unglamorous terms.",
    "The debate about {t} often skips over {u}, which is where the real trade-offs live.",
    "Over the last few years, {t} has become easier to try and harder to ignore.",
    "Good decisions about {t} start with honest questions about {u}.",
    "The best examples of {t} share one trait: they keep {u} simple.",
    "Money matters here too, since {t} shifts who pays for {u}.",
    "Done badly, {t} adds noise; done well, it clarifies {u}.",
    "Local experience with {t} varies, and {u} explains much of the difference.",
)
CLOSERS = (
    "In short, {t} deserves attention, and {u} is where to begin.",
    "The takeaway is simple: understand {u} and {t} starts to make sense.",
    "Handled with care, {t} can become a real strength.",
    "That is why {t} keeps coming back as a topic worth writing about.",
    "The next few years will show whether {t} lives up to its promise.",
    "Whatever happens next, {u} will decide how far {t} can go.",
    "For now, the sensible move is to learn from {t} and keep an eye on {u}.",
)
CRITIQUE = (
    "The piece on {t} has a clear goal, but the opening takes too long to reach it.",
    "The argument about {u} needs a concrete example to be convincing.",
    "Several paragraphs repeat the same point about {t}; tighten them.",
    "The structure is easy to follow, though the conclusion feels rushed.",
    "Headings could carry more of the keywords readers search for, such as {u}.",
    "The tone is friendly, yet some claims about {t} lack a source.",
    "A stronger title would promise a specific benefit instead of a general theme.",
    "The summary should state the main finding about {u} in one sentence.",
)
CRITIQUE_ON_TOPIC = tuple(t for t in CRITIQUE if "{t}" in t)
TITLES = (
    "Why {T} Matters More Than You Think",
    "{T}: A Practical Guide",
    "The Hidden Side of {T}",
    "What {T} Teaches Us About {U}",
    "{T} and {U}, Explained",
    "A Fresh Look at {T}",
    "Getting {T} Right",
    "{T} in Five Honest Lessons",
    "{T} Through the Lens of {U}",
    "{U} and the Future of {T}",
    "{T}: What It Means for {U}",
    "Inside {T}",
    "The Real Cost of {T}",
    "Rethinking {T}",
    "{T} Meets {U}",
    "Where {T} Goes Next",
    "The Case for {T}",
    "{T}, Without the Hype",
)
THOUGHTS = (
    "I need more information about {t} before I can answer.",
    "The question is about {t}, so I should look into {u} first.",
    "To handle {t} well I will gather the relevant facts about {u}.",
)

PRO = (
    "The evidence for {t} is stronger than its critics admit.",
    "{T} delivers real gains, above all in {u}.",
    "Every careful look at {t} points the same way: it works when {u} is taken seriously.",
    "Those who have tried {t} rarely want to go back.",
    "The benefits of {t} compound over time, especially for {u}.",
    "Far from a fad, {t} answers a real need around {u}.",
)
CON = (
    "The case for {t} falls apart once {u} is counted honestly.",
    "{T} promises more than it delivers, and {u} pays the price.",
    "The hidden costs of {t} show up later, usually in {u}.",
    "Enthusiasm for {t} rests on anecdotes rather than on evidence about {u}.",
    "Before embracing {t}, ask who carries the burden of {u}.",
    "Too often {t} is sold as a cure when {u} is the real problem.",
)
LINES = (
    "{T} works best when {u} comes first.",
    "The heart of {t} is {u}.",
    "Get {u} right and {t} follows.",
    "{T} is about {u} more than anything else.",
)
TOOL_THOUGHT = "I will call {n} to find out."
FINISH_THOUGHT = "I now have what I need about {t}, so I can finish."


def _template_regex(template: str) -> re.Pattern[str]:
    """A regex matching text made from `template`, capturing its topic slots."""
    parts = re.split(r"(\{\w\})", template)
    pattern = "".join(
        r"([^.!?:;\n\"]{1,80}?)" if re.fullmatch(r"\{\w\}", p) else re.escape(p) for p in parts
    )
    if template.startswith("{"):
        # Starts with a slot: try only at sentence starts, not at every character.
        pattern = r"(?:^|(?<=[.!?] ))" + pattern
    return re.compile(pattern, re.MULTILINE)


_OWN_SENTENCES = tuple(
    _template_regex(t)
    for t in (
        *OPENERS,
        *BODY,
        *CLOSERS,
        *CRITIQUE,
        *THOUGHTS,
        *PRO,
        *CON,
        *LINES,
        TOOL_THOUGHT,
        FINISH_THOUGHT,
    )
)
_OWN_TITLES = tuple(re.compile(f"^{_template_regex(t).pattern}$") for t in TITLES)
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


_CON_RE = re.compile(
    r"\bargues? against\b|\bagainst the\b|\boppos(?:e|es|ing)\b|\bcontra\b|\bsc?kepti|\bharsh\b",
    re.IGNORECASE,
)
_PRO_RE = re.compile(
    r"\bargues? for\b|\bin favou?r of\b|\bsupports?\b|\badvocat|\bchampion|\bpersuade[sd]? for\b",
    re.IGNORECASE,
)


def stance_of(instructions: str) -> str | None:
    """ "pro", "con" or None, from the task's own instructions (before ReAct's tool list)."""
    own = instructions.split("You are an Agent.", 1)[0]
    con, pro = bool(_CON_RE.search(own)), bool(_PRO_RE.search(own))
    if con == pro:
        return None
    return "con" if con else "pro"
