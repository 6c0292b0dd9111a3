"""Where a renderer's events come from: a child process, a record file or a WebSocket.

Every source pushes items onto one asyncio queue that the app's dispatcher drains:
decoded `Envelope`s, `SourceNotice`s (warnings such as a garbled line on the pipe) and,
exactly once and last, a `SourceEnded`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from engine.events import Envelope


@dataclass(frozen=True, slots=True)
class SourceNotice:
    """Something the source wants the user to see that is not an event."""

    level: Literal["info", "warning", "error"]
    text: str


@dataclass(frozen=True, slots=True)
class SourceEnded:
    """The source has nothing more to give. Always the last item on the queue."""

    exit_code: int | None
    reason: str


SourceItem = Envelope | SourceNotice | SourceEnded


@runtime_checkable
class EventSource(Protocol):
    """A producer of events for one run."""

    description: str

    async def run(self, queue: asyncio.Queue[SourceItem]) -> None:
        """Produce items onto `queue` until done; put a `SourceEnded` last, then return."""
        ...

    async def stop(self) -> None:
        """Ask the producer to stop (the child gets SIGINT, then SIGTERM). Idempotent."""
        ...
