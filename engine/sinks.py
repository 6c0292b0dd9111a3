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

from engine.events import LIFECYCLE_EVENTS, Envelope, encode_line

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
MAX_PENDING_BYTES = 64 * 1024 * 1024
# What a queued envelope holds in memory besides its text (pydantic model, data dict,
# ids, stamps): measured about 1.7 KB for a one-word token.
_ENVELOPE_OVERHEAD = 2048
_LIFECYCLE_ESTIMATE = 4096  # what a lifecycle event is counted as (they are never dropped)


def _estimated_size(envelope: Envelope) -> int:
    """Rough memory held while queued, cheap enough for the event loop (no encoding)."""
    data = envelope.data
    text = data.get("content") if envelope.event_type == "streaming_output" else data.get("text")
    if not isinstance(text, str):
        return _LIFECYCLE_ESTIMATE
    return _ENVELOPE_OVERHEAD + (len(text) if text.isascii() else 3 * len(text))


def _droppable_rank(envelope: Envelope) -> int:
    """0: never dropped (lifecycle); 1: dropped at the hard cap; 2: dropped first (tokens)."""
    if envelope.event_type in LIFECYCLE_EVENTS:
        return 0
    if envelope.event_type == "streaming_output":
        data = envelope.data
        if data.get("output_type", "llm_token") == "llm_token" and not data.get("is_final"):
            return 2
    return 1


class JsonLinesSink:
    """Writes JSON lines to a path or an fd from a background thread.

    Events are flushed per small batch (whatever queued up while the previous write ran),
    so a reader sees them promptly. A closed pipe sets `broken` and drops later events.

    The pending queue is capped at about `max_pending_bytes` (estimated memory, envelope
    overhead included, so a flood of one-word tokens is bounded too): past it, non-final
    `llm_token` events are dropped (counted in `dropped`); past a further quarter, other
    streaming, console and notice events too. Lifecycle events are always queued. `send`
    never blocks. Once the reader catches up, one line on stderr says how many were lost.
    """

    def __init__(
        self,
        target: int | str | Path,
        *,
        close_fd: bool | None = None,
        max_pending_bytes: int = MAX_PENDING_BYTES,
    ) -> None:
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
        self.dropped = 0  # events dropped because the reader fell behind
        self.skipped = 0  # events that could not be encoded
        self.max_pending_bytes = max_pending_bytes
        self._hard_cap = max_pending_bytes + max_pending_bytes // 4
        # Each counter has one writer (send: the loop; _writer: the thread), so no lock.
        self._queued_bytes = 0
        self._taken_bytes = 0
        self._reported_drops = 0
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._writer, name="flock-jsonl-sink", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    @property
    def pending_bytes(self) -> int:
        """Estimated memory of the events queued and not yet taken by the writer thread."""
        return self._queued_bytes - self._taken_bytes

    def send(self, envelope: Envelope) -> None:
        if self._closed or self.broken:
            return
        size = _estimated_size(envelope)
        pending = self._queued_bytes - self._taken_bytes + size
        if pending > self.max_pending_bytes:
            rank = _droppable_rank(envelope)
            if rank == 2 or (rank == 1 and pending > self._hard_cap):
                self.dropped += 1
                return
        self._queued_bytes += size
        self._queue.put((envelope, size))

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
                envelope, estimate = item  # type: ignore[misc]
                self._taken_bytes += estimate
                line = self._encode(envelope)
                if line is not None:
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
            if self.dropped > self._reported_drops and (
                stop or self.pending_bytes <= self.max_pending_bytes // 2
            ):
                self._report_drops()
            if stop:
                return

    def _encode(self, envelope: Envelope) -> bytes | None:
        """One line, or None (counted in `skipped`) if this event cannot be encoded."""
        try:
            return encode_line(envelope)
        except Exception as exc:
            self.skipped += 1
            if self.skipped == 1:
                log.warning(
                    "event sink %s: skipped an event that cannot be encoded (%s: %s)",
                    self.description,
                    type(exc).__name__,
                    exc,
                )
            return None

    def _report_drops(self) -> None:
        dropped = self.dropped
        lost = dropped - self._reported_drops
        self._reported_drops = dropped
        try:
            print(
                f"flock: the event reader fell behind; {lost} streaming events were dropped",
                file=sys.stderr,
                flush=True,
            )
        except Exception:  # pragma: no cover - stderr gone
            pass

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
        """Flush what is queued (waiting at most `timeout`), then close the fd if ours.

        If the writer is still blocked on a stalled reader after `timeout`, the fd stays
        open (closing it under a pending write could hit a reused fd number); process exit
        closes it.
        """
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        atexit.unregister(self.close)
        if self._thread.is_alive():
            log.debug("event sink %s: reader stalled; fd left open", self.description)
            return
        if self._close_fd:
            try:
                os.close(self._fd)
            except OSError:
                pass

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
