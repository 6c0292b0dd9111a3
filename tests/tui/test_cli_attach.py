"""`flock-tui attach`: a second flock-tui shows the run the first one serves with --web."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120


def test_attach_shows_the_same_run_as_the_live_flock_tui():
    env = {**os.environ, "FLOCK_OFFLINE_TPS": "20"}
    live = subprocess.Popen(
        [sys.executable, "-m", "flock_tui", "--web", "--port", "0", "examples/16_news_desk.py"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert live.stdout is not None
        first = live.stdout.readline()
        assert first.startswith("[info] dashboard: http://127.0.0.1:"), first
        ws_url = "ws" + first.split(": ", 1)[1].strip()[4:] + "ws"
        attached = subprocess.run(
            [sys.executable, "-m", "flock_tui", "attach", ws_url],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=TIMEOUT,
        )
        rest, err = live.communicate(timeout=TIMEOUT)
    finally:
        if live.poll() is None:
            live.kill()
            live.communicate()
    assert live.returncode == 0, err
    assert attached.returncode == 0, attached.stderr
    live_lines = (first + rest).splitlines()
    attach_lines = attached.stdout.splitlines()
    # The client's own notices (connected, reconnected, ...) come when they come.
    attach_lines = [line for line in attach_lines if not line.startswith("[info] ")]
    assert live_lines[0].startswith("[info] dashboard: ")
    assert attach_lines[-1].startswith("[end] ") and "(exit code 0)" in attach_lines[-1]
    # Everything else is the same run, line for line: the attach connected while the run
    # was going and got what it had missed first.
    assert attach_lines[:-1] == live_lines[1:-1]
    assert sum(line.startswith("[published] Analysis") for line in attach_lines) == 8
