"""A source served to browsers as it runs: ``flock-tui --web``.

Starts the WebSocket bridge inside the renderer's event loop, announces its URL as an
info notice, and tees every envelope to ``bridge.publish``. The bridge stays up after
the run has ended (the dashboard stays readable) until ``stop()`` or ``aclose()``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol

from flock_tui.sources.base import EventSource, SourceItem, SourceNotice
from flock_tui.sources.tee import EnvelopeCallback, TeeSource

FORWARD_SECONDS = 5.0
"""How long stop() waits for the stopped run's last events to reach the bridge."""


class BridgeLike(Protocol):
    async def start(self) -> str: ...

    def publish(self, envelope: Any) -> None: ...

    async def close(self, reason: str) -> None: ...


class BridgedSource:
    """Wrap `inner`; serve its events through the bridge that `make_bridge()` builds."""

    def __init__(
        self,
        inner: EventSource,
        make_bridge: Callable[[], BridgeLike],
        *callbacks: EnvelopeCallback,
    ) -> None:
        self.inner = inner
        self.make_bridge = make_bridge
        self.callbacks = callbacks
        self.description = inner.description
        self.bridge: BridgeLike | None = None
        self.dashboard_url: str | None = None
        self._closed = False
        self._forwarded = asyncio.Event()  # set when the last event has reached the bridge

    @property
    def live(self) -> bool:
        """Whether the wrapped source is a live run (a replay is not: no wall clock)."""
        return bool(getattr(self.inner, "live", True))

    async def run(self, queue: asyncio.Queue[SourceItem]) -> None:
        callbacks = list(self.callbacks)
        try:
            bridge = self.make_bridge()
            self.dashboard_url = await bridge.start()
        except Exception as exc:  # noqa: BLE001 - the run goes on without the dashboard
            await queue.put(
                SourceNotice("error", f"dashboard not started: {type(exc).__name__}: {exc}")
            )
        else:
            self.bridge = bridge
            callbacks.append(bridge.publish)
            await queue.put(SourceNotice("info", f"dashboard: {self.dashboard_url}"))
        try:
            await TeeSource(self.inner, *callbacks).run(queue)
        finally:
            self._forwarded.set()

    async def stop(self) -> None:
        """Stop the run; the browsers still get its last events (the exit code) before
        the bridge closes, unless they take longer than FORWARD_SECONDS to arrive."""
        await self.inner.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._forwarded.wait(), FORWARD_SECONDS)
        await self.aclose("stopped")

    async def aclose(self, reason: str = "run finished") -> None:
        if self.bridge is not None and not self._closed:
            self._closed = True
            await self.bridge.close(reason)
