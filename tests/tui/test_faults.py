"""Fault tests for the child runner: crashes, garbage on the pipe, silence, huge output."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from engine.events import Envelope
from flock_tui.sources.base import SourceEnded, SourceItem, SourceNotice
from flock_tui.sources.child import MAX_CONSOLE_LINE, ChildProcessSource

TIMEOUT = 120

PRELUDE = textwrap.dedent(
    """
    import os, sys, time
    from engine.events import (EventFactory, RunStarted, AgentRegistered, AgentActivated,
        StreamingOutput, AgentCompleted, encode_line)
    FD = int(os.environ["FLOCK_TUI_EVENT_FD"])
    factory = EventFactory(session_id="child-session")
    def send(payload):
        os.write(FD, encode_line(factory.make(payload)))
    def tok(i, text, field="body", final=False):
        send(StreamingOutput(agent_name="writer", run_id="r1", field=field, content=text,
                             sequence=i, is_final=final))
    """
)


def write_script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "child.py"
    path.write_text(PRELUDE + textwrap.dedent(body))
    return path


async def collect(source: ChildProcessSource) -> list[SourceItem]:
    queue: asyncio.Queue[SourceItem] = asyncio.Queue()
    await asyncio.wait_for(source.run(queue), TIMEOUT)
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def of_type(items: list[SourceItem], event_type: str) -> list[Envelope]:
    return [i for i in items if isinstance(i, Envelope) and i.event_type == event_type]


def console(items: list[SourceItem], stream: str) -> list[str]:
    lines: list[str] = []
    for env in of_type(items, "console_output"):
        if env.data["stream"] == stream:
            lines.extend(env.data["text"].split("\n"))
    return lines


async def test_child_crashes_mid_stream(tmp_path):
    script = write_script(
        tmp_path,
        """
        send(RunStarted())
        send(AgentActivated(agent_name="writer", run_id="r1"))
        tok(0, "half of ")
        tok(1, "a sentence")
        raise RuntimeError("boom in the middle")
        """,
    )
    items = await collect(ChildProcessSource(script, []))
    # The transcript so far is kept ...
    assert [e.data["content"] for e in of_type(items, "streaming_output")] == [
        "half of ",
        "a sentence",
    ]
    # ... the error is shown (the traceback arrives as console output) ...
    stderr = console(items, "stderr")
    assert stderr[0] == "Traceback (most recent call last):"
    assert stderr[-1] == "RuntimeError: boom in the middle"
    # ... and the exit code is reported.
    finished = of_type(items, "run_finished")
    assert len(finished) == 1 and finished[0].data["exit_code"] == 1
    assert finished[0].data["reason"] == "crashed"
    assert items[-1] == SourceEnded(1, "crashed")


async def test_garbage_and_truncated_lines_are_counted_and_the_run_goes_on(tmp_path):
    script = write_script(
        tmp_path,
        """
        send(RunStarted())
        os.write(FD, b"this is not json\\n")
        os.write(FD, b'{"v": 1, "seq": 5, "event_type": "agent_act\\n')   # truncated line
        os.write(FD, b"\\xff\\xfe binary\\n")
        os.write(FD, b'{"v": 1, "seq": 6, "event_type": "streaming_output", "timestamp": "x",'
                     b' "session_id": "s", "data": {"content": "no agent"}}\\n')
        send(AgentActivated(agent_name="writer", run_id="r1"))
        tok(0, "still streaming", final=True)
        send(AgentCompleted(agent_name="writer", run_id="r1"))
        os.write(FD, b'{"v": 1, "seq": 99, "event_')   # cut off by the exit, no newline
        """,
    )
    source = ChildProcessSource(script, [])
    items = await collect(source)
    assert source.garbled_lines == 5
    # Notice events (recorded with the run), in the source's own seq order.
    assert not [i for i in items if isinstance(i, SourceNotice)]
    notices = of_type(items, "notice")
    assert all(n.data["level"] == "warning" for n in notices)
    assert all(n.session_id == "child-session" for n in notices)
    warnings = [n.data["text"] for n in notices]
    assert len(warnings) == 6  # one per garbled line, one summary at the end
    assert "not JSON" in warnings[0] and "1 skipped so far" in warnings[0]
    assert "not UTF-8" in warnings[2]
    assert "bad streaming_output data" in warnings[3]
    assert "5 skipped so far" in warnings[4]
    assert all("\n" not in w for w in warnings)
    seqs = [i.seq for i in items if isinstance(i, Envelope)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert [e.data["content"] for e in of_type(items, "streaming_output")] == ["still streaming"]
    assert len(of_type(items, "agent_completed")) == 1
    finished = of_type(items, "run_finished")[0]
    assert finished.data["totals"]["garbled_lines"] == 5
    assert items[-1] == SourceEnded(0, "exited")


async def test_child_that_never_sends_anything(tmp_path):
    script = tmp_path / "silent.py"
    script.write_text("import time\ntime.sleep(0.2)\n")
    items = await collect(ChildProcessSource(script, []))
    envs = [i for i in items if isinstance(i, Envelope)]
    assert [e.event_type for e in envs] == ["run_finished"]
    assert envs[0].seq == 1
    assert items[-1] == SourceEnded(0, "exited")


async def test_one_megabyte_token(tmp_path):
    script = write_script(
        tmp_path,
        """
        send(AgentActivated(agent_name="writer", run_id="r1"))
        big = "".join(chr(0x41 + i % 26) for i in range(1024 * 1024 - 3)) + "é…"
        tok(0, big)
        tok(1, "after", final=True)
        """,
    )
    items = await collect(ChildProcessSource(script, []))
    tokens = [e.data["content"] for e in of_type(items, "streaming_output")]
    assert len(tokens) == 2
    assert len(tokens[0]) == 1024 * 1024 - 1 and tokens[0].endswith("XYé…"[-2:])
    assert tokens[0][:3] == "ABC" and tokens[1] == "after"
    assert items[-1] == SourceEnded(0, "exited")


async def test_flood_of_100000_print_lines_loses_nothing(tmp_path):
    script = write_script(
        tmp_path,
        """
        send(AgentActivated(agent_name="writer", run_id="r1"))
        for i in range(100_000):
            print(f"line {i}")
            if i % 25_000 == 0:
                tok(i, f"token {i}")
        print("to stderr", file=sys.stderr)
        """,
    )
    items = await collect(ChildProcessSource(script, []))
    lines = console(items, "stdout")
    assert lines == [f"line {i}" for i in range(100_000)]
    assert console(items, "stderr") == ["to stderr"]
    # Lines arrive in chunks: a flood costs far fewer events than lines.
    assert len(of_type(items, "console_output")) < 10_000
    assert [e.data["content"] for e in of_type(items, "streaming_output")] == [
        f"token {i}" for i in range(0, 100_000, 25_000)
    ]
    seqs = [i.seq for i in items if isinstance(i, Envelope)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert of_type(items, "run_finished")[0].data["totals"]["console_lines"] == 100_001


async def test_one_huge_console_line_is_cut_with_a_marker(tmp_path):
    script = tmp_path / "huge.py"
    script.write_text(
        "import sys\n"
        "sys.stdout.write('x' * (30 * 1024 * 1024))\n"
        "sys.stdout.write('\\nnext line\\n')\n"
    )
    items = await collect(ChildProcessSource(script, []))
    lines = console(items, "stdout")
    dropped = 30 * 1024 * 1024 - MAX_CONSOLE_LINE
    assert lines == ["x" * MAX_CONSOLE_LINE + f"…[truncated {dropped} bytes]", "next line"]


def test_flood_through_the_cli_keeps_memory_bounded(tmp_path):
    """flock-tui in plain mode, 100,000 printed lines plus one 50 MB line: all arrive,
    and the flock-tui process stays small (the child's output is never held whole)."""
    script = tmp_path / "flood.py"
    script.write_text(
        "import sys\n"
        "for i in range(100_000):\n"
        "    print(f'line {i}')\n"
        "piece = 'y' * (1024 * 1024)\n"
        "for _ in range(50):\n"
        "    sys.stdout.write(piece)\n"
        "sys.stdout.write('\\n')\n"
    )
    out = tmp_path / "out.txt"
    code = (
        "import resource, subprocess, sys\n"
        f"with open({str(out)!r}, 'wb') as f:\n"
        f"    rc = subprocess.run([{sys.executable!r}, '-m', 'flock_tui', {str(script)!r}],"
        " stdout=f, timeout=300).returncode\n"
        "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    # Run through a tiny wrapper so ru_maxrss covers flock-tui and its child only.
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=400, check=True
    )
    rc, maxrss_kb = (int(x) for x in result.stdout.split())
    assert rc == 0
    lines = out.read_text().splitlines()
    stdout_lines = [line for line in lines if line.startswith("[stdout] ")]
    assert stdout_lines[:100_000] == [f"[stdout] line {i}" for i in range(100_000)]
    assert stdout_lines[100_000].startswith("[stdout] yyyy")
    assert stdout_lines[100_000].endswith(
        f"…[truncated {50 * 1024 * 1024 - MAX_CONSOLE_LINE} bytes]"
    )
    assert lines[-1].startswith("[end] exited (exit code 0)")
    # The child writes the 50 MB line in 1 MB pieces, so the largest process is
    # flock-tui itself (about 40 MB after its imports on this machine). Holding the
    # line whole, or all 100,000 lines as events, would exceed this bound.
    assert maxrss_kb < 100 * 1024, f"max RSS {maxrss_kb} KiB"
    assert os.path.getsize(out) < 10 * 1024 * 1024
