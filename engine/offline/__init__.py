"""The offline model: a deterministic, streaming, key-free dspy.LM.

``make_offline_lm(seed=0, tokens_per_second=None)`` returns a ``dspy.LM`` named
``offline/flock`` (cache off) whose calls never touch the network and never import
litellm. It goes through DSPy's real streaming path (the ``dspy.lm15`` custom-engine
route, :mod:`engine.offline.engines`), so ``dspy.streamify`` with StreamListeners gets
word-sized chunks, and ``[[ ## field ## ]]`` markers arrive as whole chunks.

What it answers (modules):
- :mod:`.prompt` reads the ChatAdapter/JSONAdapter prompt: output fields, their types,
  "Constraints:" lines (ge/gt/le/lt, min/max length) and JSON schemas.
- :mod:`.values` makes values that validate: str, int/float in bounds, bool, Literal,
  enums, lists, dicts, tuples, nested and recursive models, Optional and unions.
- :mod:`.prose`, :mod:`.phrases`, :mod:`.templates` write text on the input's topic
  phrases, shaped by the field's name and description (title, summary, comments,
  body/sections, one-line points), with a pro/con stance when the task asks for one.
- :mod:`.react` answers dspy.ReAct steps: a real tool first (seed-chosen, args fitting
  its parameter schemas), then "finish".

Determinism: the same seed and the same prompt give the same answer from a fresh LM.
The LM counts its answers per signature (per system message); that count, the seed and
the prompt seed the generator, so repeated calls vary.

Score rule (for feedback loops): a number field whose name contains score, rating,
grade, quality, rank or stars lands at ``lo + ceil((hi - lo) * f)`` (ints; floats
without ceil) where ``f = min(1, 0.5 + 0.05 * (seed % 3) + 0.2 * attempt)`` and
``attempt`` counts the earlier answers this LM gave to the same signature. With bounds
1..10: seeds with ``seed % 3 == 0`` or ``1`` score 6, 8, 10; ``seed % 3 == 2`` scores
7, 9, 10. A critic accepting at >= 9 accepts the second or third draft. Without visible
bounds an int lands in 1..10 and a float in 0..1.

Pacing: ``tokens_per_second`` chunks per second per stream (None reads env
FLOCK_OFFLINE_TPS, default 40; 0 means no delay).
"""

from __future__ import annotations

import os

import dspy

from engine.offline.compose import Composer
from engine.offline.engines import AsyncOfflineEngine, OfflineEngine, chunk_text

__all__ = ["DEFAULT_TPS", "MODEL_NAME", "chunk_text", "make_offline_lm", "offline_tps"]

DEFAULT_TPS = 40.0
MODEL_NAME = "offline/flock"


def offline_tps() -> float:
    """Tokens per second from env FLOCK_OFFLINE_TPS (default 40; 0 = no delay)."""
    raw = os.environ.get("FLOCK_OFFLINE_TPS", "").strip()
    if not raw:
        return DEFAULT_TPS
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"FLOCK_OFFLINE_TPS must be a number, got {raw!r}") from exc
    if value < 0 or value != value:
        raise ValueError(f"FLOCK_OFFLINE_TPS must be >= 0, got {raw!r}")
    return value


def make_offline_lm(seed: int = 0, tokens_per_second: float | None = None) -> dspy.LM:
    """A deterministic offline dspy.LM (no cache, streams word-sized chunks)."""
    tps = offline_tps() if tokens_per_second is None else float(tokens_per_second)
    if tps < 0:
        raise ValueError(f"tokens_per_second must be >= 0, got {tps}")
    engine = OfflineEngine(Composer(seed), tps, MODEL_NAME)
    return dspy.LM(MODEL_NAME, engine=engine, async_engine=AsyncOfflineEngine(engine), cache=False)
