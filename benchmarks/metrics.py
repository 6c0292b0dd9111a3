"""Measuring helpers: percentiles, process CPU and RSS, backlog trend.

Used both inside the measured processes (the recorders) and in the harness (summaries).
Linux only (reads /proc).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = math.ceil(pos)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (pos - low))


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """p50/p95/p99/max in milliseconds and the sample count."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000.0, 2)

    return {
        "count": len(seconds),
        "p50_ms": ms(percentile(seconds, 50)),
        "p95_ms": ms(percentile(seconds, 95)),
        "p99_ms": ms(percentile(seconds, 99)),
        "max_ms": ms(max(seconds) if seconds else None),
    }


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of a process (default: this one), from /proc/PID/statm."""
    path = f"/proc/{pid or 'self'}/statm"
    with open(path, encoding="ascii") as handle:
        return int(handle.read().split()[1]) * _PAGE


def peak_rss_bytes(pid: int | None = None) -> int:
    """VmHWM (peak resident set size) from /proc/PID/status."""
    with open(f"/proc/{pid or 'self'}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process, all its threads (not its children)."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


@dataclass(slots=True)
class Sample:
    t: float
    cpu: float
    rss: int
    backlog: int
    queue: int
    applied: int


@dataclass
class Timeline:
    """Periodic samples of one process (taken inside it)."""

    samples: list[Sample] = field(default_factory=list)

    def add(self, backlog: int = 0, queue: int = 0, applied: int = 0) -> None:
        self.samples.append(
            Sample(time.time(), cpu_seconds(), rss_bytes(), backlog, queue, applied)
        )

    def window(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.t <= end]

    def to_json(self) -> list[list[float]]:
        return [
            [round(s.t, 4), round(s.cpu, 4), s.rss, s.backlog, s.queue, s.applied]
            for s in self.samples
        ]


def samples_from_json(rows: list[list[float]]) -> list[Sample]:
    return [Sample(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows]


def cpu_share(samples: Sequence[Sample]) -> float | None:
    """CPU seconds per wall second between the first and last sample (1.0 = one core)."""
    if len(samples) < 2:
        return None
    wall = samples[-1].t - samples[0].t
    if wall <= 0:
        return None
    return (samples[-1].cpu - samples[0].cpu) / wall


def cpu_per_event(samples: Sequence[Sample]) -> float | None:
    """CPU seconds per applied event between the first and last sample."""
    if len(samples) < 2:
        return None
    events = samples[-1].applied - samples[0].applied
    if events <= 0:
        return None
    return (samples[-1].cpu - samples[0].cpu) / events


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x (units of y per unit of x)."""
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    var = sum((p[0] - mx) ** 2 for p in points)
    if var == 0:
        return None
    return sum((p[0] - mx) * (p[1] - my) for p in points) / var


def backlog_summary(samples: Sequence[Sample], input_rate: float) -> dict[str, Any]:
    """Max, mean, trend of the backlog; 'bounded' when it does not keep growing.

    Growth is the least-squares slope over the window (events/s) and the mean of the last
    third against the first third. The backlog counts as bounded when the slope is under
    2% of the input rate or the last third is no larger than twice the first third plus
    one frame's worth of input (input_rate / 20).
    """
    if not samples:
        return {"max": None, "mean": None, "slope_per_s": None, "bounded": None}
    values = [s.backlog for s in samples]
    grow = slope([(s.t, float(s.backlog)) for s in samples])
    third = max(1, len(values) // 3)
    first = sum(values[:third]) / third
    last = sum(values[-third:]) / third
    allowance = input_rate / 20.0
    bounded = (grow is not None and grow < 0.02 * input_rate) or last <= 2 * first + allowance
    return {
        "max": max(values),
        "mean": round(sum(values) / len(values), 1),
        "first_third_mean": round(first, 1),
        "last_third_mean": round(last, 1),
        "slope_per_s": None if grow is None else round(grow, 2),
        "bounded": bool(bounded),
    }


def fps(frame_times: Sequence[float], start: float, end: float) -> float | None:
    if end <= start:
        return None
    count = sum(1 for t in frame_times if start <= t <= end)
    return count / (end - start)
