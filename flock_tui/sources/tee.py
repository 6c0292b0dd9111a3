"""A source that passes another source's items through and shows every envelope to callbacks.

Used for ``--record`` (a recorder writes each envelope to a file) and ``--web`` (the
bridge publishes each envelope to its WebSocket clients). A callback that raises never
stops the run: its first failure becomes one warning notice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from engine.events import Envelope
from flock_tui.sources.base import EventSource, SourceEnded, SourceItem, SourceNotice

EnvelopeCallback = Callable[[Envelope], object]


def _name(callback: EnvelopeCallback) -> str:
    owner = getattr(callback, "__self__", None)
    if owner is not None:
        return f"{type(owner).__name__}.{getattr(callback, '__name__', 'callback')}"
    return getattr(callback, "__qualname__", None) or type(callback).__name__


class TeeSource:
    """Wrap `inner`; call each callback with every Envelope, in order, before passing it on."""

    def __init__(self, inner: EventSource, *callbacks: EnvelopeCallback) -> None:
        self.inner = inner
        self.callbacks = list(callbacks)
        self.description = inner.description
        self.failures: dict[int, int] = {}

    @property
    def live(self) -> bool:
        """Whether the wrapped source is a live run (a replay is not: no wall clock)."""
        return bool(getattr(self.inner, "live", True))

    async def run(self, queue: asyncio.Queue[SourceItem]) -> None:
        relay: asyncio.Queue[SourceItem] = asyncio.Queue()
        producer = asyncio.create_task(self.inner.run(relay))
        getter: asyncio.Task[SourceItem] | None = None
        try:
            while True:
                getter = asyncio.ensure_future(relay.get())
                await asyncio.wait({getter, producer}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    # The producer returned or failed; take what it left, then end.
                    getter.cancel()
                    await self._producer_gone(producer, relay, queue)
                    return
                item = getter.result()
                while True:  # forward everything already waiting, without a wait per item
                    await self._forward(item, queue)
                    if isinstance(item, SourceEnded):
                        await producer
                        return
                    if relay.empty():
                        break
                    item = relay.get_nowait()
        finally:
            if getter is not None and not getter.done():
                getter.cancel()
            if not producer.done():
                # Cancelled from outside (the app is going away): let the inner source
                # clean up (a child process is stopped) before we return.
                producer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await producer

    async def _producer_gone(
        self,
        producer: asyncio.Task[None],
        relay: asyncio.Queue[SourceItem],
        queue: asyncio.Queue[SourceItem],
    ) -> None:
        while not relay.empty():
            item = relay.get_nowait()
            await self._forward(item, queue)
            if isinstance(item, SourceEnded):
                return
        exc = producer.exception()
        if exc is not None:
            await queue.put(SourceNotice("error", f"source failed: {type(exc).__name__}: {exc}"))
            await queue.put(SourceEnded(None, f"source failed: {type(exc).__name__}"))
        else:
            await queue.put(SourceEnded(None, "source ended without a result"))

    async def _forward(self, item: SourceItem, queue: asyncio.Queue[SourceItem]) -> None:
        if isinstance(item, Envelope):
            for index, callback in enumerate(self.callbacks):
                try:
                    callback(item)
                except Exception as exc:  # noqa: BLE001 - a callback must not end the run
                    count = self.failures.get(index, 0) + 1
                    self.failures[index] = count
                    if count == 1:
                        await queue.put(
                            SourceNotice(
                                "warning",
                                f"{_name(callback)} failed: {type(exc).__name__}: {exc}"
                                " (further failures are not reported)",
                            )
                        )
        await queue.put(item)

    async def stop(self) -> None:
        await self.inner.stop()
