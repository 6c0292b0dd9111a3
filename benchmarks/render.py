"""Rendering scenarios: one measured process per scenario, inside a 200x50 pty.

Each scenario starts `python -m benchmarks.inpty CONFIG` in the pty; that process runs
the producer through the source and the renderer (ours or a baseline) and writes its
stats. This module only builds configs, runs them and attaches the pty figures.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import child_env, run_in_pty


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # ours | static | live | live4
    agents: int
    rate: float = 50.0  # tokens/s per agent
    seconds: float = 60.0
    mode: str = "rate"  # rate | lines
    lines: int = 0  # lines mode: lines per agent
    lines_per_event: int = 20
    warmup: float = 1.0
    timeout: float | None = None
    max_seconds: float | None = None  # stop a renderer that cannot keep up (baselines)

    @property
    def input_rate(self) -> float:
        return self.agents * self.rate if self.mode == "rate" else 0.0

    def producer_args(self) -> list[str]:
        if self.mode == "lines":
            return [
                "--mode", "lines", "--agents", str(self.agents), "--lines", str(self.lines),
                "--lines-per-event", str(self.lines_per_event),
            ]  # fmt: skip
        return [
            "--mode", "rate", "--agents", str(self.agents), "--rate", str(self.rate),
            "--seconds", str(self.seconds),
        ]  # fmt: skip

    def effective_timeout(self) -> float:
        if self.timeout is not None:
            return self.timeout
        return self.seconds * 3 + 60 if self.mode == "rate" else 300.0


def run_scenario(
    scenario: Scenario,
    *,
    source: str = "child",
    cols: int = 200,
    rows: int = 50,
    profile: str | None = None,
    patches: list[str] | None = None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="flock-bench-") as tmp:
        stats_path = Path(tmp) / "stats.json"
        config_path = Path(tmp) / "config.json"
        config = {
            "kind": scenario.kind,
            "producer_args": scenario.producer_args(),
            "agents": scenario.agents,
            "input_rate": scenario.input_rate,
            "seconds": scenario.seconds if scenario.mode == "rate" else 0.0,
            "warmup": scenario.warmup,
            "source": source,
            "stats_path": str(stats_path),
            "profile": profile,
            "patches": patches or [],
            "max_seconds": scenario.max_seconds,
        }
        config_path.write_text(json.dumps(config))
        result = run_in_pty(
            [sys.executable, "-m", "benchmarks.inpty", str(config_path)],
            env=child_env({"TEXTUAL_FPS": "60"}),
            cols=cols,
            rows=rows,
            timeout=scenario.effective_timeout(),
        )
        if stats_path.exists():
            stats: dict[str, Any] = json.loads(stats_path.read_text())
        else:
            stats = {"error": f"no stats written; terminal tail:\n{result.tail_text()}"}
    stats["scenario"] = asdict(scenario)
    stats["terminal"] = {
        "size": f"{cols}x{rows}",
        "bytes_read": result.bytes_read,
        "elapsed_s": round(result.elapsed_s, 2),
        "returncode": result.returncode,
        "timed_out": result.timed_out,
    }
    if result.timed_out:
        stats.setdefault("notes", []).append("timed out: killed by the harness")
    return stats
