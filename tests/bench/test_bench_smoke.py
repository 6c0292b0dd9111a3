"""Smoke test of the benchmark harness: it runs and produces every figure.

Not a timed test: it asserts that each figure exists, never what it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks import metrics, report
from benchmarks.harness import FirstFrameDetector
from engine.events import decode

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_produces_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "all", "--quick", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.exists(), proc.stderr[-2000:]
    results = json.loads(out.read_text())
    assert report.errors(results) == []
    assert report.missing_figures(results) == []
    assert {t["name"] for t in results["targets"]} >= {"16x50 p95", "pipe", "first frame"}
    assert "Targets (issue 5)" in proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_producer_writes_decodable_timed_tokens() -> None:
    read_fd, write_fd = os.pipe()
    env = dict(os.environ, FLOCK_TUI_EVENT_FD=str(write_fd), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "producer.py"), "--mode", "flood",
         "--agents", "3", "--events", "30"],
        pass_fds=(write_fd,),
        env=env,
    )  # fmt: skip
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        envelopes = [decode(line) for line in pipe.read().splitlines()]
    assert proc.wait(timeout=30) == 0
    kinds = [e.event_type for e in envelopes]
    assert kinds.count("agent_registered") == 3
    assert kinds.count("agent_completed") == 3
    tokens = [e for e in envelopes if e.event_type == "streaming_output"]
    assert len(tokens) == 30
    assert all(isinstance(e.data["t_created"], float) for e in tokens)
    assert [e.seq for e in envelopes] == sorted({e.seq for e in envelopes})


def test_percentile_and_backlog_summary() -> None:
    values = [float(v) for v in range(1, 101)]
    assert metrics.percentile(values, 50) == 50.5
    assert metrics.percentile(values, 95) == 95.05
    assert metrics.percentile([], 95) is None
    growing = [metrics.Sample(t, 0.0, 0, t * 100, 0, 0) for t in range(20)]
    flat = [metrics.Sample(t, 0.0, 0, 5, 0, 0) for t in range(20)]
    assert metrics.backlog_summary(growing, input_rate=800)["bounded"] is False
    assert metrics.backlog_summary(flat, input_rate=800)["bounded"] is True


def test_first_frame_needs_alt_screen_then_text() -> None:
    detector = FirstFrameDetector(min_visible=5)
    assert not detector.feed(b"hello world before the switch")
    assert not detector.feed(b"\x1b[?1049h\x1b[1;1H\x1b[38;5;1m")
    assert not detector.feed(b"ab")
    assert detector.feed(b"\x1b[2;1Hcdef")
