"""The offline model: a deterministic, streaming, key-free dspy.LM.

``make_offline_lm(seed=0, tokens_per_second=None)`` returns a ``dspy.LM`` named
``offline/flock`` whose calls never touch the network and never import litellm. It
answers whatever DSPy's ChatAdapter (or JSONAdapter) asks for with values that validate
against the signature's types, streams word-sized chunks through DSPy's real streaming
path (the ``dspy.lm15`` engine route), and writes prose on the input's topic.

Score rule (for feedback loops): a number field whose name contains score, rating,
grade, quality, rank or stars lands at ``lo + ceil((hi - lo) * f)`` (ints; floats
without ceil) where ``f = min(1, 0.5 + 0.05 * (seed % 3) + 0.2 * attempt)`` and
``attempt`` counts the earlier answers this LM gave to the same signature. With bounds
1..10 and seed 0 the critic scores 6, then 8, then 10: later drafts score higher.
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
