"""ChildProcessSource against real child processes that speak the FLOCK_TUI_EVENT_FD contract."""

from __future__ import annotations

import asyncio
import os
import signal
import textwrap
from pathlib import Path

import pytest

from engine.events import Envelope, encode
from flock_tui.sources.base import SourceEnded, SourceItem
from flock_tui.sources.child import ChildProcessSource
from flock_tui.sources.process import describe_exit

TIMEOUT = 60

PRELUDE = textwrap.dedent(
    """
    import os, sys, time
    from engine.events import (EventFactory, RunStarted, AgentRegistered, AgentActivated,
        StreamingOutput, AgentCompleted, encode_line)
    FD = int(os.environ["FLOCK_TUI_EVENT_FD"])
    factory = EventFactory(session_id="child-session", start_seq=100)
    def send(payload, correlation_id=None):
        os.write(FD, encode_line(factory.make(payload, correlation_id=correlation_id)))
    """
)


def write_script(tmp_path: Path, body: str, name: str = "child.py") -> Path:
    path = tmp_path / name
    path.write_text(PRELUDE + textwrap.dedent(body))
    return path


async def collect(source: ChildProcessSource) -> list[SourceItem]:
    queue: asyncio.Queue[SourceItem] = asyncio.Queue()
    await asyncio.wait_for(source.run(queue), TIMEOUT)
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def envelopes(items: list[SourceItem]) -> list[Envelope]:
    return [item for item in items if isinstance(item, Envelope)]


def console_text(items: list[SourceItem], stream: str = "stdout") -> list[str]:
    lines: list[str] = []
    for env in envelopes(items):
        if env.event_type == "console_output" and env.data["stream"] == stream:
            lines.extend(env.data["text"].split("\n"))
    return lines


async def test_events_console_and_exit_are_one_ordered_stream(tmp_path):
    script = write_script(
        tmp_path,
        """
        print("hello from stdout")
        send(RunStarted(script=sys.argv[0], argv=sys.argv[1:], pid=os.getpid()))
        send(AgentRegistered(name="writer"))
        print("oops", file=sys.stderr)
        send(AgentActivated(agent_name="writer", run_id="r1"), correlation_id="c1")
        for i, tok in enumerate(["Hello", " world"]):
            send(StreamingOutput(agent_name="writer", run_id="r1", field="text", content=tok, sequence=i))
        send(AgentCompleted(agent_name="writer", run_id="r1"))
        print("cwd", os.getcwd(), "args", sys.argv[1:], os.environ["PYTHONUNBUFFERED"], os.environ["FLOCK_TUI_CHILD"])
        """,
    )
    source = ChildProcessSource(script, ["--flag", "two words"])
    items = await collect(source)
    assert isinstance(items[-1], SourceEnded)
    assert items[-1].exit_code == 0 and items[-1].reason == "exited"
    envs = envelopes(items)
    assert [e.seq for e in envs] == list(range(1, len(envs) + 1))
    types = [e.event_type for e in envs if e.event_type != "console_output"]
    assert types == [
        "run_started",
        "agent_registered",
        "agent_activated",
        "streaming_output",
        "streaming_output",
        "agent_completed",
        "run_finished",
    ]
    started = next(e for e in envs if e.event_type == "run_started")
    assert started.data["argv"] == ["--flag", "two words"]
    activated = next(e for e in envs if e.event_type == "agent_activated")
    assert activated.session_id == "child-session" and activated.correlation_id == "c1"
    assert [e.data["content"] for e in envs if e.event_type == "streaming_output"] == [
        "Hello",
        " world",
    ]
    assert console_text(items) == [
        "hello from stdout",
        f"cwd {os.getcwd()} args ['--flag', 'two words'] 1 1",
    ]
    assert console_text(items, "stderr") == ["oops"]
    finished = envs[-1]
    assert finished.event_type == "run_finished"
    assert finished.data["exit_code"] == 0 and finished.data["totals"]["events"] == 6
    # The child's session id is kept, and the runner's own events adopt it once known.
    assert {e.session_id for e in envs if e.event_type != "console_output"} == {"child-session"}


async def test_child_that_never_sends_an_event(tmp_path):
    script = tmp_path / "quiet.py"
    script.write_text("print('just printing')\nraise SystemExit(3)\n")
    items = await collect(ChildProcessSource(script, []))
    assert console_text(items) == ["just printing"]
    assert items[-1] == SourceEnded(3, "exited with code 3")
    assert envelopes(items)[-1].data["exit_code"] == 3


async def test_child_killed_by_signal_reports_shell_style_code(tmp_path):
    script = tmp_path / "suicide.py"
    script.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n")
    items = await collect(ChildProcessSource(script, []))
    assert items[-1] == SourceEnded(128 + signal.SIGTERM, "killed by SIGTERM")


async def test_stop_sends_sigint_to_the_process_group(tmp_path):
    marker = tmp_path / "got_sigint"
    script = write_script(
        tmp_path,
        f"""
        import signal, subprocess
        grandchild = subprocess.Popen(
            [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(120)"],
            stdout=subprocess.PIPE,
        )
        grandchild.stdout.readline()  # it is up (and has Python's own SIGINT handling)
        def on_int(*_):
            open({str(marker)!r}, "w").write(str(grandchild.wait()))
            sys.exit(7)
        signal.signal(signal.SIGINT, on_int)
        send(RunStarted())
        while True:
            time.sleep(0.05)
        """,
    )
    source = ChildProcessSource(script, [])
    queue: asyncio.Queue[SourceItem] = asyncio.Queue()
    task = asyncio.create_task(source.run(queue))
    first = await asyncio.wait_for(queue.get(), TIMEOUT)
    assert isinstance(first, Envelope) and first.event_type == "run_started"
    await asyncio.wait_for(asyncio.gather(source.stop(), source.stop()), TIMEOUT)
    await asyncio.wait_for(task, TIMEOUT)
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    assert items[-1] == SourceEnded(7, "stopped by user (exited with code 7)")
    # The grandchild in the same process group got SIGINT too (died from it).
    assert marker.read_text() == str(-signal.SIGINT)
    await asyncio.wait_for(source.stop(), TIMEOUT)  # idempotent after exit


async def test_stop_escalates_to_sigterm_when_sigint_is_ignored(tmp_path):
    script = write_script(
        tmp_path,
        """
        import signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        send(RunStarted())
        time.sleep(120)
        """,
    )
    source = ChildProcessSource(script, [], grace_seconds=0.5)
    queue: asyncio.Queue[SourceItem] = asyncio.Queue()
    task = asyncio.create_task(source.run(queue))
    await asyncio.wait_for(queue.get(), TIMEOUT)
    await asyncio.wait_for(source.stop(), TIMEOUT)
    await asyncio.wait_for(task, TIMEOUT)
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    assert items[-1] == SourceEnded(128 + signal.SIGTERM, "stopped by user (killed by SIGTERM)")


async def test_cancelling_run_stops_the_child(tmp_path):
    pid_file = tmp_path / "pid"
    script = write_script(
        tmp_path,
        f"""
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        send(RunStarted())
        time.sleep(120)
        """,
    )
    source = ChildProcessSource(script, [], grace_seconds=1)
    queue: asyncio.Queue[SourceItem] = asyncio.Queue()
    task = asyncio.create_task(source.run(queue))
    await asyncio.wait_for(queue.get(), TIMEOUT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, TIMEOUT)
    assert source.process is not None and source.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


async def test_stop_before_run_never_starts_the_child(tmp_path):
    marker = tmp_path / "ran"
    script = tmp_path / "s.py"
    script.write_text(f"open({str(marker)!r}, 'w')\n")
    source = ChildProcessSource(script, [])
    await source.stop()
    items = await collect(source)
    assert isinstance(items[-1], SourceEnded) and items[-1].exit_code is None
    assert not marker.exists()


async def test_extra_env_and_pass_fds_reach_the_child(tmp_path):
    read_fd, write_fd = os.pipe()
    script = tmp_path / "s.py"
    script.write_text(
        "import os\nos.write(int(os.environ['EXTRA_FD']), os.environ['EXTRA'].encode())\n"
    )
    try:
        source = ChildProcessSource(
            script, [], env={"EXTRA": "hi", "EXTRA_FD": str(write_fd)}, pass_fds=(write_fd,)
        )
        items = await collect(source)
        assert items[-1] == SourceEnded(0, "exited")
        assert os.read(read_fd, 10) == b"hi"
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_describe_exit():
    assert describe_exit(0, crashed=False, stopped=False) == (0, "exited")
    assert describe_exit(1, crashed=True, stopped=False) == (1, "crashed")
    assert describe_exit(7, crashed=True, stopped=False) == (7, "exited with code 7")
    assert describe_exit(-9, crashed=False, stopped=True) == (
        137,
        "stopped by user (killed by SIGKILL)",
    )


def test_encoded_envelopes_round_trip_through_the_module():
    # Guard: the codec the child prelude relies on is the one we decode with.
    env = Envelope(seq=1, event_type="x", timestamp="2026-01-01T00:00:00.000Z", session_id="s")
    assert encode(env).startswith("{")


async def test_grandchildren_holding_the_pipes_do_not_hold_up_the_end(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    script = tmp_path / "spawner.py"
    script.write_text(
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "print('parent done', flush=True)\n"
    )
    source = ChildProcessSource(script, [])
    source.drain_seconds = 0.5
    items = await collect(source)
    assert console_text(items) == ["parent done"]
    assert items[-1] == SourceEnded(0, "exited")
    grandchild = int(pid_file.read_text())
    for _ in range(100):  # the group got SIGTERM; wait until it is gone (or a zombie)
        try:
            state = Path(f"/proc/{grandchild}/status").read_text()
        except FileNotFoundError:
            break
        if "\nState:\tZ" in state:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the grandchild still runs")


async def test_stop_again_while_stopping_skips_the_grace_period(tmp_path):
    script = write_script(
        tmp_path,
        """
        import signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        send(RunStarted())
        time.sleep(120)
        """,
    )
    source = ChildProcessSource(script, [], grace_seconds=600)
    queue: asyncio.Queue[SourceItem] = asyncio.Queue()
    task = asyncio.create_task(source.run(queue))
    await asyncio.wait_for(queue.get(), TIMEOUT)
    first = asyncio.create_task(source.stop())  # SIGINT, ignored; would wait 600 s
    await asyncio.sleep(0.2)
    second = asyncio.create_task(source.stop())  # -> SIGTERM now, ignored too
    await asyncio.sleep(0.2)
    third = asyncio.create_task(source.stop())  # -> SIGKILL now
    await asyncio.wait_for(asyncio.gather(first, second, third, task), TIMEOUT)
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    assert items[-1] == SourceEnded(137, "stopped by user (killed by SIGKILL)")


async def test_lone_surrogate_escapes_on_the_pipe_arrive_as_replacement_characters(tmp_path):
    # A writer that is not the engine may send "\ud800" (valid JSON, not encodable text):
    # drawn raw it would be six literal characters; it must reach renderers as U+FFFD.
    script = write_script(
        tmp_path,
        r"""
        H = '{"v":1,"seq":%d,"event_type":"%s","timestamp":"2026-11-27T00:00:00.000Z",'
        H += '"session_id":"s","data":%s}\n'
        os.write(FD, (H % (1, "agent_activated", '{"agent_name":"a\\ud800","run_id":"r"}')).encode())
        data = '{"agent_name":"a","run_id":"r","field":"f","content":"x\\ud800\\udbff\\udfffy"}'
        os.write(FD, (H % (2, "streaming_output", data)).encode())
        """,
    )
    items = await collect(ChildProcessSource(script, []))
    events = {e.event_type: e for e in envelopes(items)}
    assert events["agent_activated"].data["agent_name"] == "a\ufffd"
    assert events["streaming_output"].data["content"] == "x\ufffd\U0010ffffy"
    assert items[-1] == SourceEnded(0, "exited")
