"""Sinks: JSON lines to files and pipes, the FLOCK_TUI_EVENT_FD channel, the console."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

from rich.console import Console

from engine import JsonLinesSink, QueueSink
from engine.console import ConsoleSink, strip_control
from engine.events import (
    AgentError,
    EventFactory,
    MessagePublished,
    StreamingOutput,
    decode,
)

ROOT = Path(__file__).resolve().parents[2]


def _token(factory: EventFactory, content: str, **kw) -> object:
    return factory.make(
        StreamingOutput(agent_name="a", run_id="r", field="body", content=content, **kw)
    )


def test_jsonl_sink_writes_decodable_lines_to_a_file(tmp_path: Path) -> None:
    factory = EventFactory()
    path = tmp_path / "run.jsonl"
    sink = JsonLinesSink(path)
    for i in range(100):
        sink.send(_token(factory, f"word{i} "))
    sink.close()
    lines = path.read_bytes().splitlines()
    decoded = [decode(line) for line in lines]
    assert [e.seq for e in decoded] == list(range(1, 101))
    assert decoded[-1].payload().content == "word99 "


def test_jsonl_sink_gets_a_one_megabyte_token_through_a_pipe() -> None:
    factory = EventFactory()
    read_fd, write_fd = os.pipe()
    received = bytearray()

    def reader() -> None:
        with os.fdopen(read_fd, "rb") as f:
            while chunk := f.read(65536):
                received.extend(chunk)

    thread = threading.Thread(target=reader)
    thread.start()
    sink = JsonLinesSink(write_fd, close_fd=True)
    big = "x" * (1024 * 1024)
    sink.send(_token(factory, "before "))
    sink.send(_token(factory, big))
    sink.send(_token(factory, " after", is_final=True))
    sink.close()
    thread.join(30)
    events = [decode(line) for line in bytes(received).splitlines()]
    assert [e.payload().content for e in events] == ["before ", big, " after"]
    assert not sink.broken


async def test_jsonl_sink_send_does_not_block_the_loop_when_the_reader_stalls() -> None:
    factory = EventFactory()
    read_fd, write_fd = os.pipe()
    sink = JsonLinesSink(write_fd, close_fd=True)
    # Nobody reads: the 64 KiB pipe buffer fills, the writer thread blocks, send() must not.
    for _ in range(50):
        sink.send(_token(factory, "y" * 10_000))
    await asyncio.sleep(0)
    with os.fdopen(read_fd, "rb") as f:
        drain = threading.Thread(target=f.read)
        drain.start()
        await sink.aclose()
        drain.join(30)
    assert sink.written == 50


def test_jsonl_sink_survives_a_closed_pipe() -> None:
    factory = EventFactory()
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    sink = JsonLinesSink(write_fd, close_fd=True)
    for i in range(10):
        sink.send(_token(factory, f"lost {i}"))
    sink.close()
    assert sink.broken
    sink.send(_token(factory, "after close"))  # still no exception


async def test_queue_sink_delivers_in_order() -> None:
    factory = EventFactory()
    sink = QueueSink()
    for i in range(5):
        sink.send(_token(factory, str(i)))
    got = [sink.queue.get_nowait().payload().content for _ in range(5)]
    assert got == ["0", "1", "2", "3", "4"]


def test_event_fd_records_parallel_streaming_of_the_news_desk(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe()
    env = dict(os.environ)
    env.update(
        FLOCK_TUI_EVENT_FD=str(write_fd),
        FLOCK_OFFLINE_TPS="200",
        PYTHONPATH=str(ROOT),
    )
    env.pop("DEFAULT_MODEL", None)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "16_news_desk.py")],
        env=env,
        pass_fds=(write_fd,),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    os.close(write_fd)
    received = bytearray()

    def reader() -> None:
        with os.fdopen(read_fd, "rb") as f:
            while chunk := f.read(65536):
                received.extend(chunk)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    thread.join(30)
    assert not thread.is_alive()
    lines = bytes(received).splitlines()
    assert proc.returncode == 0, stderr.decode()
    # With the event fd set, the engine itself prints nothing to the terminal.
    assert stdout.decode().strip() == "analyses: 8; digests: 1"
    events = [decode(line) for line in lines]
    seqs = [e.seq for e in events]
    assert all(a < b for a, b in zip(seqs, seqs[1:], strict=False))
    assert events[0].event_type == "run_started"
    tokens = [e.payload() for e in events if e.event_type == "streaming_output"]
    agents = [t.agent_name for t in tokens if t.output_type == "llm_token"]
    # Interleaved: some agent streams, another streams, then the first streams again.
    first_seen: dict[str, int] = {}
    last_seen: dict[str, int] = {}
    for i, name in enumerate(agents):
        first_seen.setdefault(name, i)
        last_seen[name] = i
    overlapping = [
        (a, b)
        for a in first_seen
        for b in first_seen
        if a != b and first_seen[a] < first_seen[b] < last_seen[a]
    ]
    assert len({a for a, _ in overlapping}) >= 2, "analysts must stream at the same time"
    analysts = {n for n in agents if n.endswith("_analyst")}
    assert len(analysts) == 8
    registered = [e.payload().name for e in events if e.event_type == "agent_registered"]
    assert len(registered) == 9
    assert events[-1].event_type == "agent_completed"


def _console() -> tuple[ConsoleSink, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200, color_system=None)
    return ConsoleSink(console), out


def test_console_sink_shows_markup_literally_and_strips_control_sequences() -> None:
    sink, out = _console()
    factory = EventFactory()
    evil = "[red]x[/red] \x1b[31mred\x1b[0m \x1b]0;title\x07 done\r\x07"
    sink.send(
        factory.make(
            StreamingOutput(agent_name="a", run_id="r", field="body", content=evil, is_final=True)
        )
    )
    sink.send(
        factory.make(
            MessagePublished(
                artifact_id="1", artifact_type="Blog", produced_by="a", payload={"title": evil}
            )
        )
    )
    sink.send(
        factory.make(AgentError(agent_name="a", error_type="X", error_message="[bold]boom[/]"))
    )
    text = out.getvalue()
    assert text.count("[red]x[/red]") == 2
    assert "[bold]boom[/]" in text
    assert "\x1b" not in text and "\x07" not in text and "0;title" not in text
    assert "red  done" in text


def test_console_sink_prints_one_line_per_finished_field() -> None:
    sink, out = _console()
    factory = EventFactory()
    for agent in ("alpha", "beta"):
        sink.send(
            factory.make(
                StreamingOutput(agent_name=agent, run_id=agent, field="body", content="Hello ")
            )
        )
    for agent in ("alpha", "beta"):
        sink.send(
            factory.make(
                StreamingOutput(
                    agent_name=agent, run_id=agent, field="body", content="world", is_final=True
                )
            )
        )
    lines = out.getvalue().splitlines()
    assert lines == ["alpha │ body: Hello world", "beta │ body: Hello world"]


def test_strip_control() -> None:
    assert strip_control("a\x1b[1;31mb\x1b[0m\tc\nd\x00") == "ab\tc\nd"
