"""The script's process group dies with the run: grandchildren that ignore SIGINT (and
send their output elsewhere) are stopped too, by stop(), kill_now(), reap() and at exit."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flock_tui.sources.base import SourceEnded, SourceItem
from flock_tui.sources.child import ChildProcessSource
from flock_tui.sources.process import ProcessGroup, group_alive

TIMEOUT = 30
GONE_WITHIN = 10.0  # seconds a stopped grandchild may take to disappear


def write_script(tmp_path: Path, *, then: str, ignore: str = "SIGINT") -> Path:
    """A script that starts a grandchild ignoring `ignore` (stdio to /dev/null, pid
    written to grandchild.pid), waits until it is set up, prints "ready", then `then`."""
    pidfile = tmp_path / "grandchild.pid"
    grandchild = textwrap.dedent(
        f"""
        import os, signal, sys, time
        for name in {ignore.split(",")!r}:
            signal.signal(getattr(signal, name), signal.SIG_IGN)
        with open(sys.argv[1] + ".tmp", "w") as handle:
            handle.write(str(os.getpid()))
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        time.sleep(600)
        """
    )
    script = tmp_path / "spawner.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, subprocess, sys, time
            subprocess.Popen(
                [sys.executable, "-c", {grandchild!r}, {str(pidfile)!r}],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while not os.path.exists({str(pidfile)!r}):
                time.sleep(0.01)
            print("ready", flush=True)
            """
        )
        + textwrap.dedent(then)
    )
    return script


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for init to reap it does not count)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


def wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + GONE_WITHIN
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def grandchildren(tmp_path: Path) -> Iterator[list[int]]:
    """Pids the test expects gone; whatever survives a failing test is killed."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


async def read_pid(tmp_path: Path) -> int:
    pidfile = tmp_path / "grandchild.pid"
    async with asyncio.timeout(TIMEOUT):
        while not pidfile.exists():
            await asyncio.sleep(0.02)
    return int(pidfile.read_text())


async def test_stop_reaches_a_grandchild_that_ignores_sigint(tmp_path, grandchildren):
    # The script dies of the SIGINT at once; its grandchild ignores it and lives on.
    script = write_script(tmp_path, then="time.sleep(600)\n")
    source = ChildProcessSource(script, [], grace_seconds=0.5)
    queue: asyncio.Queue[SourceItem] = asyncio.Queue()
    runner = asyncio.create_task(source.run(queue))
    pid = await read_pid(tmp_path)
    grandchildren.append(pid)
    await asyncio.wait_for(source.stop(), TIMEOUT)
    assert wait_gone(pid), "the grandchild outlived stop()"
    await asyncio.wait_for(runner, TIMEOUT)
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    assert isinstance(items[-1], SourceEnded)


async def test_stop_kills_a_grandchild_that_ignores_sigint_and_sigterm(tmp_path, grandchildren):
    script = write_script(tmp_path, then="time.sleep(600)\n", ignore="SIGINT,SIGTERM")
    group = ProcessGroup(grace_seconds=0.3)
    proc = await group.start(
        [sys.executable, str(script)], env=dict(os.environ), pass_fds=(), limit=2**16
    )
    pid = await read_pid(tmp_path)
    grandchildren.append(pid)
    await asyncio.wait_for(group.stop(), TIMEOUT)
    assert wait_gone(pid)
    assert not group_alive(proc.pid)
    assert await asyncio.wait_for(group.wait(), TIMEOUT) == -signal.SIGINT


async def test_reap_after_a_normal_exit_stops_what_the_script_left(tmp_path, grandchildren):
    script = write_script(tmp_path, then="sys.exit(0)\n", ignore="SIGINT,SIGTERM")
    group = ProcessGroup(grace_seconds=0.3)
    proc = await group.start(
        [sys.executable, str(script)], env=dict(os.environ), pass_fds=(), limit=2**16
    )
    pid = await read_pid(tmp_path)
    grandchildren.append(pid)
    assert await asyncio.wait_for(group.wait(), TIMEOUT) == 0
    assert alive(pid) and group_alive(proc.pid)  # the script is gone, its group is not
    await asyncio.wait_for(group.reap(), TIMEOUT)
    assert wait_gone(pid)
    assert not group_alive(proc.pid)
    await asyncio.wait_for(group.reap(), TIMEOUT)  # nothing left: returns at once


def test_kill_now_reaches_the_whole_group(tmp_path, grandchildren):
    script = write_script(tmp_path, then="time.sleep(600)\n", ignore="SIGINT,SIGTERM")
    group = ProcessGroup()

    async def start() -> int:
        await group.start(
            [sys.executable, str(script)], env=dict(os.environ), pass_fds=(), limit=2**16
        )
        return await read_pid(tmp_path)

    loop = asyncio.new_event_loop()
    try:
        pid = loop.run_until_complete(start())
        grandchildren.append(pid)
        # SIGTERM kills the script but not its grandchild: kill_now must go on to SIGKILL.
        group.kill_now(grace_seconds=0.3)
        assert wait_gone(pid)
        assert group.process is not None
        loop.run_until_complete(asyncio.wait_for(group.process.wait(), TIMEOUT))
    finally:
        loop.close()


def _flock_tui(script: Path, tmp_path: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, FLOCK_OFFLINE_TPS="0")
    return subprocess.Popen(
        [sys.executable, "-m", "flock_tui", str(script)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )


def test_plain_mode_leaves_nothing_behind_after_a_normal_exit(tmp_path, grandchildren):
    script = write_script(tmp_path, then="sys.exit(0)\n")
    proc = _flock_tui(script, tmp_path)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    pid = int((tmp_path / "grandchild.pid").read_text())
    grandchildren.append(pid)
    assert proc.returncode == 0, err
    assert "ready" in out
    assert wait_gone(pid), "the grandchild outlived flock-tui"


def test_plain_mode_sigint_leaves_nothing_behind(tmp_path, grandchildren):
    script = write_script(tmp_path, then="time.sleep(600)\n")
    proc = _flock_tui(script, tmp_path)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + TIMEOUT
        while not (tmp_path / "grandchild.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = int((tmp_path / "grandchild.pid").read_text())
        grandchildren.append(pid)
        proc.send_signal(signal.SIGINT)  # what Ctrl+C in the terminal does to flock-tui
        proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert wait_gone(pid), "the grandchild outlived flock-tui"


async def test_source_reaps_what_the_script_left_when_it_exits(tmp_path, grandchildren):
    script = write_script(tmp_path, then="sys.exit(0)\n", ignore="SIGINT,SIGTERM")
    source = ChildProcessSource(script, [], grace_seconds=0.3)
    queue: asyncio.Queue[SourceItem] = asyncio.Queue()
    await asyncio.wait_for(source.run(queue), TIMEOUT)
    pid = int((tmp_path / "grandchild.pid").read_text())
    grandchildren.append(pid)
    assert not alive(pid), "the run ended with the script's grandchild still running"


def test_a_grandchild_in_its_own_session_holding_the_pipes_leaves_stderr_clean(
    tmp_path, grandchildren
):
    # The grandchild leaves the script's group (setsid), so neither the reap nor the stop
    # reaches it, and it keeps stdout, stderr and the event pipe open past the end of the
    # run: the subprocess transport must be closed before the event loop is.
    script = tmp_path / "setsid_grandchild.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, sys, time
            fd = int(os.environ["FLOCK_TUI_EVENT_FD"])
            pid = os.fork()
            if pid == 0:
                os.setsid()
                for _ in range(300):  # until flock-tui is gone (EPIPE), at most 60 s
                    try:
                        os.write(fd, b"\\n")
                    except OSError:
                        os._exit(0)
                    time.sleep(0.2)
                os._exit(0)
            with open({str(tmp_path / "grandchild.pid")!r}, "w") as handle:
                handle.write(str(pid))
            print("parent exits", flush=True)
            sys.exit(4)
            """
        )
    )
    proc = _flock_tui(script, tmp_path)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    grandchildren.append(int((tmp_path / "grandchild.pid").read_text()))
    assert proc.returncode == 4, err
    assert "parent exits" in out
    assert err == "", err  # before: "Exception ignored ... RuntimeError: Event loop is closed"
