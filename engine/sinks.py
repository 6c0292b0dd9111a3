"""Event sinks: where the engine's envelopes go.

- `QueueSink`: an asyncio queue (in-process consumers, tests).
- `JsonLinesSink`: one JSON object per line to a file or an inherited pipe fd. A writer
  thread does the encoding and the blocking writes, so the event loop never waits on a
  slow reader; a vanished reader (EPIPE) just turns the sink off.
- `ConsoleSink` (engine.console): readable line output for `python script.py`.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import queue
import sys
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

from engine.events import Envelope, encode_line

log = logging.getLogger("engine")


@runtime_checkable
class EventSink(Protocol):
    def send(self, envelope: Envelope) -> None:
        """Accept one envelope. Called on the event loop; must not block."""
        ...

    async def aclose(self) -> None: ...


class QueueSink:
    """Puts every envelope on an asyncio queue (unbounded, so send never blocks)."""

    def __init__(self, maxsize: int = 0) -> None:
        self.queue: asyncio.Queue[Envelope] = asyncio.Queue(maxsize)
        self.dropped = 0

    def send(self, envelope: Envelope) -> None:
        try:
            self.queue.put_nowait(envelope)
        except asyncio.QueueFull:
            self.dropped += 1

    async def aclose(self) -> None:
        return None


class ListSink:
    """Keeps every envelope in a list (handy in tests and scripts)."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    def send(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    async def aclose(self) -> None:
        return None


_STOP = object()
_MAX_BATCH_BYTES = 256 * 1024
_EXIT_TIMEOUT_S = 5.0


class JsonLinesSink:
    """Writes JSON lines to a path or an fd from a background thread.

    Events are flushed per small batch (whatever queued up while the previous write ran),
    so a reader sees them promptly. A closed pipe sets `broken` and drops later events.
    """

    def __init__(self, target: int | str | Path, *, close_fd: bool | None = None) -> None:
        if isinstance(target, int):
            self._fd = target
            self._close_fd = bool(close_fd)
            self.description = f"fd {target}"
        else:
            self._fd = os.open(
                str(target), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644
            )
            self._close_fd = True if close_fd is None else close_fd
            self.description = str(target)
        self.broken = False
        self.written = 0
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._writer, name="flock-jsonl-sink", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def send(self, envelope: Envelope) -> None:
        if not self._closed and not self.broken:
            self._queue.put(envelope)

    def _writer(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[bytes] = []
            size = 0
            stop = False
            while True:
                if item is _STOP:
                    stop = True
                    break
                line = encode_line(item)  # type: ignore[arg-type]
                batch.append(line)
                size += len(line)
                if size >= _MAX_BATCH_BYTES:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch and not self.broken:
                self._write_all(b"".join(batch), len(batch))
            if stop:
                return

    def _write_all(self, data: bytes, count: int) -> None:
        view = memoryview(data)
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            self.written += count
        except (BrokenPipeError, ConnectionResetError):
            self.broken = True
        except OSError as exc:
            self.broken = True
            log.debug("event sink %s stopped: %s", self.description, exc)

    def close(self, timeout: float = _EXIT_TIMEOUT_S) -> None:
        """Flush what is queued (waiting at most `timeout`), then close the fd if ours."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._close_fd:
            try:
                os.close(self._fd)
            except OSError:
                pass
        atexit.unregister(self.close)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)


_env_sink: JsonLinesSink | None = None
_env_lock = threading.Lock()


def env_event_sink() -> JsonLinesSink | None:
    """The process-wide sink for FLOCK_TUI_EVENT_FD, or None when the variable is unset."""
    global _env_sink
    raw = os.environ.get("FLOCK_TUI_EVENT_FD")
    if not raw:
        return None
    with _env_lock:
        if _env_sink is None:
            try:
                fd = int(raw)
                os.fstat(fd)
            except (ValueError, OSError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not a number"
                print(
                    f"flock: FLOCK_TUI_EVENT_FD={raw!r} is not an open file descriptor "
                    f"({reason}); printing to the console instead",
                    file=sys.stderr,
                )
                return None
            # Closed at exit, so the reader sees EOF once everything is written.
            _env_sink = JsonLinesSink(fd, close_fd=True)
        return _env_sink
