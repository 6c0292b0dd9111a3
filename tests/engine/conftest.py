"""Fixtures for the engine tests: a Flock with a list sink, and a scriptable fake engine.

The fake engine is only for orchestration logic (gates, concurrency, loops); every test
of the DSPy path uses the real offline model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import BaseModel

from engine import Flock, ListSink, RunContext

Behaviour = Callable[[RunContext], Awaitable[list[BaseModel]] | list[BaseModel]]


class FakeEngine:
    """Runs a Python function instead of an LM; counts concurrent runs."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.calls: list[RunContext] = []
        self.running = 0
        self.peak = 0

    async def run(self, run: RunContext) -> list[BaseModel]:
        self.calls.append(run)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            result = self.behaviour(run)
            if asyncio.iscoroutine(result):
                result = await result
            return list(result)  # type: ignore[arg-type]
        finally:
            self.running -= 1


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def flock(sink: ListSink) -> Flock:
    f = Flock(console=False)
    f.add_sink(sink)
    return f


def events(sink: ListSink, event_type: str) -> list[Any]:
    return [e.payload() for e in sink.envelopes if e.event_type == event_type]


async def idle(flock: Flock, timeout: float = 30.0) -> None:
    await asyncio.wait_for(flock.run_until_idle(), timeout)
