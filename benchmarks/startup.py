"""Start-up: from launching ``flock-tui SCRIPT`` in a 200x50 pty to the first painted frame.

The first frame is the first output that, after the alternate-screen switch
(ESC [ ?1049h), contains at least 20 visible characters once escape sequences are
removed (see `harness.FirstFrameDetector`). The harness then presses ``q`` and waits for
the app to quit (stopping the child script).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.harness import ROOT, child_env, run_in_pty

DEFAULT_SCRIPT = "examples/03_blog_review.py"


def flock_tui_command() -> list[str]:
    exe = Path(sys.executable).with_name("flock-tui")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("flock-tui")
    return [found] if found else [sys.executable, "-m", "flock_tui"]


def _press_quit(master: int, proc: subprocess.Popen[bytes]) -> None:
    os.write(master, b"q")


def measure_startup(
    runs: int = 5, script: str = DEFAULT_SCRIPT, timeout: float = 30.0
) -> dict[str, Any]:
    argv = [*flock_tui_command(), script]
    times: list[float] = []
    failures: list[str] = []
    for _ in range(runs):
        result = run_in_pty(
            argv,
            env=child_env({"FLOCK_OFFLINE_TPS": "0"}),
            timeout=timeout,
            on_first_frame=_press_quit,
        )
        if result.first_frame_s is None:
            failures.append(
                f"no first frame (exit {result.returncode}, timed out {result.timed_out}): "
                + result.tail_text(300).strip()
            )
        else:
            times.append(result.first_frame_s)
    return {
        "command": " ".join(["flock-tui", script]),
        "runs": runs,
        "first_frame_s": [round(t, 3) for t in times],
        "min_s": round(min(times), 3) if times else None,
        "median_s": round(statistics.median(times), 3) if times else None,
        "max_s": round(max(times), 3) if times else None,
        "failures": failures,
        "cwd": str(ROOT),
    }
