"""The in-process recorder of a measured renderer (ours, or a baseline).

Counts token events received from the source (through `CountingQueue`) and applied to
the screen (`applied`), stamps event-to-frame latency when the frame that shows a batch
has been produced (`stamp`), counts frames, and samples CPU, RSS and backlog on a timer.
`result()` summarises everything over the measurement window: from the first token
applied plus a warm-up to the last token applied (start-up excluded).
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Iterable
from typing import Any

from benchmarks import metrics
from engine.events import Envelope
from flock_tui.sources.base import SourceItem


def token_created(envelope: Envelope) -> float | None:
    """The producer's creation time of a token event, None for anything else."""
    if envelope.event_type != "streaming_output":
        return None
    created = envelope.data.get("t_created")
    return float(created) if isinstance(created, int | float) else None


class Recorder:
    def __init__(
        self, *, warmup: float = 1.0, input_rate: float = 0.0, seconds: float = 0.0
    ) -> None:
        self.warmup = warmup
        self.input_rate = input_rate
        self.total_tokens = int(input_rate * seconds)
        self.first_created: float | None = None
        self.behind: list[tuple[float, int]] = []  # (time, tokens due by now - applied)
        self.timeline = metrics.Timeline()
        self.latencies: list[float] = []
        self.frames: list[float] = []
        self.received = 0
        self.applied = 0
        self.first_token_t: float | None = None
        self.last_token_t: float | None = None
        self.last_received_t: float | None = None
        self.ended_t: float | None = None
        self.notes: list[str] = []
        self.points: list[tuple[float, float, int]] = []  # (time, cpu, applied) per batch
        self.stamps: list[tuple[float, int, float]] = []  # (time, events, oldest's latency)
        self._pending: list[float] = []
        self._pending_write: list[float] = []  # the cross-check: next frame written
        self.write_latencies: list[float] = []
        self._lock = threading.Lock()
        self.queue: asyncio.Queue[SourceItem] | None = None
        self.started_t = time.time()
        self.gc_pauses: list[tuple[float, int, float]] = []  # (end time, generation, seconds)
        self._gc_started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            pause = time.perf_counter() - self._gc_started
            self.gc_pauses.append((time.time(), info["generation"], pause))

    # -- source side -------------------------------------------------------------------
    def on_received(self, item: object) -> None:
        if isinstance(item, Envelope) and item.event_type == "streaming_output":
            self.received += 1
            self.last_received_t = time.time()
            if self.first_created is None:
                self.first_created = token_created(item)

    # -- renderer side -----------------------------------------------------------------
    def on_applied(self, envelopes: Iterable[Envelope]) -> bool:
        """Record a batch applied to the widgets; True when a stamp should be scheduled."""
        now = time.time()
        created = [t for t in (token_created(e) for e in envelopes) if t is not None]
        if not created:
            return False
        self.applied += len(created)
        if self.first_token_t is None:
            self.first_token_t = now
        self.last_token_t = now
        self.points.append((now, metrics.cpu_seconds(), self.applied))
        with self._lock:
            first = not self._pending
            self._pending.extend(created)
            self._pending_write.extend(created)
        return first

    def stamp(self) -> None:
        """The frame showing every pending event has been produced: record latencies."""
        now = time.time()
        with self._lock:
            pending, self._pending = self._pending, []
        if pending:
            self.latencies.extend(now - t for t in pending)
            self.stamps.append((now, len(pending), now - min(pending)))

    def frame(self) -> None:
        """A frame is being written to the terminal (called just before the write)."""
        now = time.time()
        self.frames.append(now)
        with self._lock:
            pending, self._pending_write = self._pending_write, []
        if pending:
            self.write_latencies.extend(now - t for t in pending)

    def sample(self) -> None:
        queue_size = self.queue.qsize() if self.queue is not None else 0
        self.timeline.add(self.received - self.applied, queue_size, self.applied)
        if self.first_created is not None and self.total_tokens:
            # The producer's schedule: tokens due by now, whether or not the source has
            # read them yet (a renderer that stops reading leaves them in the pipe).
            now = time.time()
            due = min(self.total_tokens, int((now - self.first_created) * self.input_rate) + 1)
            self.behind.append((now, due - self.applied))

    async def sample_forever(self, period: float = 0.25) -> None:
        while True:
            self.sample()
            await asyncio.sleep(period)

    # -- summary -----------------------------------------------------------------------
    def result(self) -> dict[str, Any]:
        self.sample()
        out: dict[str, Any] = {
            "received": self.received,
            "applied": self.applied,
            "latency": metrics.latency_summary(self.latencies),
            # cross-check: created -> the next frame written after the batch was applied
            "latency_at_write": metrics.latency_summary(self.write_latencies),
            "frames_total": len(self.frames),
            "peak_rss_mb": round(metrics.peak_rss_bytes() / metrics.MIB, 1),
            "notes": self.notes,
            "timeline": self.timeline.to_json(),
            "stamps": [[round(t, 4), n, round(lat, 4)] for t, n, lat in self.stamps],
        }
        samples = self.timeline.samples
        out["rss_start_mb"] = round(samples[0].rss / metrics.MIB, 1) if samples else None
        out["rss_end_mb"] = round(samples[-1].rss / metrics.MIB, 1) if samples else None
        if self.first_token_t is None or self.last_token_t is None:
            out["notes"].append("no token was applied")
            return out
        start = self.first_token_t + self.warmup
        end = self.last_token_t
        if end - start < 0.5:  # too short for a warm-up: use the whole token span
            start = self.first_token_t
        window = self.timeline.window(start, end)
        if len(window) < 3:  # a very short run: judge the backlog on every sample
            window = self.timeline.samples
        points = [p for p in self.points if start <= p[0] <= end] or self.points[-2:]
        share = per_event = None
        if len(points) >= 2 and points[-1][0] > points[0][0]:
            (t0, c0, a0), (t1, c1, a1) = points[0], points[-1]
            share = (c1 - c0) / (t1 - t0)
            per_event = (c1 - c0) / (a1 - a0) if a1 > a0 else None
            start = t0
        pauses = [(g, p) for t, g, p in self.gc_pauses if start <= t <= end]
        full = [p for g, p in pauses if g == 2]
        behind = [b for t, b in self.behind if start <= t <= end] or [b for _, b in self.behind]
        out.update(
            {
                "behind_schedule": {
                    "max": max(behind) if behind else None,
                    "end": behind[-1] if behind else None,
                },
                "gc": {
                    "collections": len(pauses),
                    "total_ms": round(sum(p for _, p in pauses) * 1000, 1),
                    "gen2": len(full),
                    "gen2_max_ms": round(max(full) * 1000, 1) if full else 0.0,
                },
                "window_s": round(end - start, 3),
                "cpu_share": None if share is None else round(share, 4),
                "cpu_us_per_token": None if per_event is None else round(per_event * 1e6, 2),
                "fps": _round(metrics.fps(self.frames, start, end), 2),
                "backlog": metrics.backlog_summary(window, self.input_rate),
                "applied_rate": _round(
                    (points[-1][2] - points[0][2]) / (points[-1][0] - points[0][0])
                    if len(points) >= 2 and points[-1][0] > points[0][0]
                    else None,
                    1,
                ),
                "drain_s": _round(
                    (self.last_token_t - self.last_received_t)
                    if self.last_received_t is not None
                    else None,
                    3,
                ),
            }
        )
        return out


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


class CountingQueue:
    """Wraps the app's asyncio.Queue so the recorder counts what the source delivers."""

    def __init__(self, inner: asyncio.Queue[SourceItem], recorder: Recorder) -> None:
        self._inner = inner
        self._recorder = recorder
        recorder.queue = inner

    def put_nowait(self, item: SourceItem) -> None:
        self._recorder.on_received(item)
        self._inner.put_nowait(item)

    async def put(self, item: SourceItem) -> None:
        self._recorder.on_received(item)
        await self._inner.put(item)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CountingSource:
    """An EventSource wrapper that hands the inner source a CountingQueue."""

    def __init__(self, inner: Any, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder
        self.description = getattr(inner, "description", "benchmark source")

    async def run(self, queue: asyncio.Queue[SourceItem]) -> None:
        await self.inner.run(CountingQueue(queue, self.recorder))  # type: ignore[arg-type]

    async def stop(self) -> None:
        await self.inner.stop()
