"""Helpers for the TUI app tests: fixture paths, an in-memory source, event builders."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.events import (
    AgentActivated,
    AgentRegistered,
    Envelope,
    EventFactory,
    EventPayload,
    StreamingOutput,
    utc_timestamp,
)
from flock_tui.sources.base import SourceEnded, SourceItem

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BASE = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
WAIT = 20.0  # seconds before a test that waits on the app gives up


def fixture(name: str) -> Path:
    return FIXTURES / f"{name}.jsonl"


class Events:
    """Builds envelopes with fixed timestamps, 10 ms apart."""

    def __init__(self) -> None:
        self.factory = EventFactory(session_id="test-session")
        self.ms = 0

    def __call__(self, payload: EventPayload, correlation_id: str | None = None) -> Envelope:
        self.ms += 10
        stamp = utc_timestamp(BASE + timedelta(milliseconds=self.ms))
        return self.factory.make(payload, correlation_id=correlation_id, timestamp=stamp)

    def register(self, name: str) -> Envelope:
        return self(AgentRegistered(name=name, consumes=["Idea"], publishes=["Note"], model="m"))

    def activate(self, name: str, run_id: str, iteration: int = 1) -> Envelope:
        return self(
            AgentActivated(
                agent_name=name, run_id=run_id, iteration=iteration, consumed_types=["Idea"]
            )
        )

    def token(self, name: str, run_id: str, field: str, text: str) -> Envelope:
        return self(StreamingOutput(agent_name=name, run_id=run_id, field=field, content=text))


class ListSource:
    """An in-memory EventSource: feed items with `push`, end it with `end`.

    Records whether `stop()` was called; `stop()` ends the run with `stop_code`.
    """

    live = False

    def __init__(self, items: Iterable[SourceItem] = (), *, stop_code: int = 130) -> None:
        self.description = "test source"
        self.stop_code = stop_code
        self.stopped = False
        self._queue: asyncio.Queue[SourceItem] | None = None
        self._pending: list[SourceItem] = list(items)
        self._done = asyncio.Event()

    async def run(self, queue: asyncio.Queue[SourceItem]) -> None:
        self._queue = queue
        for item in self._pending:
            queue.put_nowait(item)
        self._pending.clear()
        await self._done.wait()

    def push(self, *items: SourceItem) -> None:
        for item in items:
            if self._queue is None:
                self._pending.append(item)
            else:
                self._queue.put_nowait(item)

    def end(self, exit_code: int | None = 0, reason: str = "finished") -> None:
        self.push(SourceEnded(exit_code=exit_code, reason=reason))
        self._done.set()

    async def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            if not self._done.is_set():
                self.end(self.stop_code, "stopped")


@pytest.fixture
def events() -> Events:
    return Events()


async def wait_until_ended(app: object) -> None:
    """Wait (bounded) until the app has applied and drawn the source's SourceEnded."""
    await asyncio.wait_for(app.source_finished.wait(), WAIT)  # type: ignore[attr-defined]


async def wait_for_events(app: object, count: int) -> None:
    """Wait (bounded) until the app has applied at least `count` source items."""

    async def poll() -> None:
        while app.events_seen < count:  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), WAIT)


async def wait_for_exit(app: object) -> None:
    """Wait (bounded) until the app has called exit (its return code is set)."""

    async def poll() -> None:
        while app.return_code is None:  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), WAIT)


class Helpers:
    """The helpers above, handed to tests as the `tui` fixture (importlib mode has no
    importable conftest)."""

    fixture = staticmethod(fixture)
    ListSource = ListSource
    Events = Events
    wait_until_ended = staticmethod(wait_until_ended)
    wait_for_events = staticmethod(wait_for_events)
    wait_for_exit = staticmethod(wait_for_exit)


@pytest.fixture
def tui() -> type[Helpers]:
    return Helpers
