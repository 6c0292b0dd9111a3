"""`flock-tui attach`: a second flock-tui shows the run the first one serves with --web."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from flock_tui import cli
from flock_tui.app import FlockApp
from flock_tui.sources import websocket
from flock_tui.sources.websocket import WebSocketSource

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


def refused_url() -> str:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        return f"ws://127.0.0.1:{probe.getsockname()[1]}/ws"


def test_attach_to_nothing_ends_with_an_error_and_exit_code_1(monkeypatch, capsys):
    monkeypatch.setattr(websocket, "CONNECT_SECONDS", 0.5)
    url = refused_url()
    started = time.monotonic()
    code = cli.main(["attach", url])  # stdout is not a terminal: plain mode
    assert time.monotonic() - started < 5
    assert code == 1
    out = capsys.readouterr().out.splitlines()
    assert any(
        line.startswith(f"[error] cannot connect to {url}: Connection refused; giving up")
        for line in out
    ), out
    assert out[-1].startswith(f"[end] cannot connect to {url}") and "(exit code 1)" in out[-1]


async def test_tui_attach_to_nothing_gives_up_and_quits_with_exit_code_1():
    app = FlockApp(WebSocketSource(refused_url(), connect_timeout=0.3))
    async with app.run_test() as pilot:
        await asyncio.wait_for(app.source_finished.wait(), 10)
        assert app.state.exit_code == 1
        assert app.state.finish_reason.startswith("cannot connect to ws://127.0.0.1:")
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 1


async def test_quitting_an_attach_that_never_connected_is_exit_code_1():
    app = FlockApp(WebSocketSource(refused_url(), connect_timeout=60))
    async with app.run_test() as pilot:
        async with asyncio.timeout(10):
            while not app.state.warning_count:  # refused once: retrying
                await asyncio.sleep(0.02)
        await pilot.press("q")
        async with asyncio.timeout(10):
            while app.return_code is None:
                await asyncio.sleep(0.02)
    assert app.return_code == 1
