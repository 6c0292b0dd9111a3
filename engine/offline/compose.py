"""Turn one lm15 Request into the full text of a deterministic answer.

The answer is in the format the adapter asked for: ChatAdapter sections
(``[[ ## field ## ]]`` ... ``[[ ## completed ## ]]``) or, for JSONAdapter, one JSON
object. Values come from :mod:`engine.offline.values`, prose from
:mod:`engine.offline.prose`, ReAct steps from :mod:`engine.offline.react`.

Determinism: the random generator is seeded from (seed, the whole prompt, attempt),
where ``attempt`` counts earlier answers this model gave to the same signature (same
system message). A fresh model with the same seed answers the same input identically.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from typing import Any

from engine.offline.phrases import key_phrases
from engine.offline.prompt import PromptSpec, parse_chat_prompt
from engine.offline.prose import Prose
from engine.offline.react import is_react_step, react_step
from engine.offline.templates import stance_of
from engine.offline.values import Generator

_TRAJECTORY_KEY = re.compile(r"^(thought|tool_name|tool_args|observation)_\d+$")


def request_texts(request: Any) -> tuple[str, str]:
    """(system text, last user message text) of an lm15 Request."""
    system = request.system
    if system is None:
        system_text = ""
    elif isinstance(system, str):
        system_text = system
    else:
        system_text = "".join(getattr(p, "text", "") or "" for p in system)
    user_text = ""
    for message in request.messages:
        if message.role == "system" and not system_text:
            system_text = message.text or ""
        if message.role == "user":
            user_text = message.text or ""
    return system_text, user_text


def _digest(*parts: object) -> int:
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode("utf-8", "replace"))
        h.update(b"\x00")
    return int.from_bytes(h.digest()[:8], "big")


def _strings(value: object) -> list[str]:
    """String leaves of parsed JSON, in order (keys left out)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def input_text(raw: str) -> str:
    """An input value as plain text: JSON (a pydantic model, a list) is reduced to its strings."""
    stripped = raw.strip()
    if stripped[:1] in "{[":
        try:
            return "\n".join(_strings(json.loads(stripped)))
        except json.JSONDecodeError:
            pass
    return raw


_BOILERPLATE = (
    re.compile(r"You are the agent `[^`]*`\.?"),
    re.compile(r"^\s*Read .* and produce .*$", re.MULTILINE),
    re.compile(r"Given the fields .*?, produce the fields .*?\.", re.DOTALL),
)


def role_text(instructions: str) -> str:
    """The task's own words: instructions without ReAct's tool list and framework phrasing."""
    own = instructions.split("You are an Agent.", 1)[0]
    for pattern in _BOILERPLATE:
        own = pattern.sub(" ", own)
    return own


def topic_words(spec: PromptSpec, user: str) -> list[str]:
    """Key phrases of the inputs (in signature order), then a few of the task's own words.

    The first phrase is the topic; the task's phrases ("financial consequences" for a
    markets desk) only fill the second slot, so agents on one input still differ.
    """
    names = [n for n in spec.input_names if n in spec.inputs] or list(spec.inputs)
    texts = [spec.inputs[n] for n in names if not _TRAJECTORY_KEY.match(n) and n != "trajectory"]
    texts = [input_text(t) for t in texts if not t.startswith("[[ ## ")]
    if not spec.inputs and not spec.outputs:
        texts = [user]
    phrases = key_phrases(texts)[:4]
    # Only two-word phrases of the task ("public health"): lone words are often verbs
    # ("scores") and longer runs often hold one ("story changes everyday").
    role = [p for p in key_phrases([role_text(spec.instructions)], limit=4) if p.count(" ") == 1]
    if len(phrases) < 2:
        role = key_phrases([role_text(spec.instructions)], limit=3)
    for phrase in role[:2]:
        if phrase.lower() not in {p.lower() for p in phrases}:
            phrases.append(phrase)
    return phrases[:6]


class Composer:
    """Writes answers; remembers how often each signature was answered (for scores)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._attempts: dict[int, int] = {}
        self._lock = threading.Lock()

    def _next_attempt(self, key: int) -> int:
        with self._lock:
            attempt = self._attempts.get(key, 0)
            self._attempts[key] = attempt + 1
            return attempt

    def answer(self, request: Any) -> str:
        system, user = request_texts(request)
        spec = parse_chat_prompt(system, user)
        attempt = self._next_attempt(_digest("signature", system))
        rng = random.Random(_digest(self.seed, system, user, attempt))
        prose = Prose(topic_words(spec, user), rng, stance_of(spec.instructions))
        if not spec.outputs:
            return prose.paragraphs(2)
        gen = Generator(prose, rng, root={}, attempt=attempt, seed=self.seed)
        if is_react_step(spec):
            values = react_step(spec, gen)
        else:
            values = {}
            for f in spec.outputs:
                schema = dict(f.schema)
                if f.description and "description" not in schema:
                    schema["description"] = f.description
                gen.root = schema
                values[f.name] = gen.value(schema, f.name)
        return render(spec, values)


def format_value(value: Any, raw_text: bool) -> str:
    if raw_text and isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, str):
        return value if raw_text else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


def render(spec: PromptSpec, values: dict[str, Any]) -> str:
    """The answer text in the adapter's format."""
    if spec.json_mode:
        return json.dumps(
            {f.name: values[f.name] for f in spec.outputs}, ensure_ascii=False, indent=2
        )
    parts = []
    for f in spec.outputs:
        parts.append(f"[[ ## {f.name} ## ]]\n{format_value(values[f.name], f.raw_text)}")
    parts.append("[[ ## completed ## ]]")
    return "\n\n".join(parts)
