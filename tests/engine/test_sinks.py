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


def _read_all(read_fd: int, received: bytearray) -> threading.Thread:
    def reader() -> None:
        with os.fdopen(read_fd, "rb") as f:
            while chunk := f.read(65536):
                received.extend(chunk)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    return thread


def test_jsonl_sink_writes_a_lone_surrogate_and_keeps_going() -> None:
    factory = EventFactory()
    read_fd, write_fd = os.pipe()
    received = bytearray()
    reader = _read_all(read_fd, received)
    sink = JsonLinesSink(write_fd, close_fd=True)
    sink.send(_token(factory, "bad \udcff byte"))  # what Python makes of undecodable bytes
    sink.send(_token(factory, "after"))
    sink.close()
    reader.join(30)
    events = [decode(line) for line in bytes(received).splitlines()]
    assert [e.payload().content for e in events] == ["bad \ufffd byte", "after"]
    assert not sink.broken and sink.skipped == 0


def test_jsonl_sink_skips_an_event_it_cannot_encode_and_the_writer_survives(
    monkeypatch,
) -> None:
    import engine.sinks as sinks_module

    real = sinks_module.encode_line

    def fragile(envelope):
        if envelope.data.get("content") == "poison":
            raise UnicodeEncodeError("utf-8", "\udcff", 0, 1, "surrogates not allowed")
        return real(envelope)

    monkeypatch.setattr(sinks_module, "encode_line", fragile)
    factory = EventFactory()
    read_fd, write_fd = os.pipe()
    received = bytearray()
    reader = _read_all(read_fd, received)
    sink = JsonLinesSink(write_fd, close_fd=True)
    sink.send(_token(factory, "before"))
    sink.send(_token(factory, "poison"))
    sink.send(_token(factory, "after"))
    sink.close(timeout=30)
    reader.join(30)
    events = [decode(line) for line in bytes(received).splitlines()]
    assert [e.payload().content for e in events] == ["before", "after"]
    assert sink.skipped == 1 and sink.written == 2


def _lifecycle(factory: EventFactory, n: int) -> object:
    return factory.make(AgentError(agent_name="a", error_type="X", error_message=f"error {n}"))


async def test_jsonl_sink_caps_pending_bytes_with_a_stalled_reader(capfd) -> None:
    factory = EventFactory()
    read_fd, write_fd = os.pipe()  # nobody reads until the end
    cap = 2 * 1024 * 1024
    sink = JsonLinesSink(write_fd, close_fd=True, max_pending_bytes=cap)
    big = "t" * 50_000
    for i in range(400):  # 20 MB of tokens, ten times the cap
        sink.send(_token(factory, big))
        if i % 100 == 0:
            sink.send(_lifecycle(factory, i))
        assert sink.pending_bytes <= cap + 4 * 8192  # only lifecycle events pass the cap
    assert sink.dropped > 300
    for i in range(4):
        sink.send(_lifecycle(factory, 1000 + i))  # still queued under pressure
    assert sink.dropped > 300
    received = bytearray()
    reader = _read_all(read_fd, received)
    await asyncio.wait_for(sink.aclose(), 30)
    reader.join(30)
    events = [decode(line) for line in bytes(received).splitlines()]
    errors = [e.payload().error_message for e in events if e.event_type == "agent_error"]
    assert errors == [f"error {n}" for n in (0, 100, 200, 300, 1000, 1001, 1002, 1003)]
    tokens = [e for e in events if e.event_type == "streaming_output"]
    assert len(tokens) + sink.dropped == 400
    assert f"{sink.dropped} streaming events were dropped" in capfd.readouterr().err


async def test_jsonl_sink_close_returns_with_a_stuck_reader_and_leaves_the_fd_open() -> None:
    factory = EventFactory()
    read_fd, write_fd = os.pipe()
    sink = JsonLinesSink(write_fd, close_fd=True)
    for _ in range(20):
        sink.send(_token(factory, "z" * 100_000))  # far more than the pipe holds
    await asyncio.wait_for(asyncio.to_thread(sink.close, 0.2), 10)
    assert sink._thread.is_alive()  # still blocked in os.write
    os.fstat(write_fd)  # not closed under the blocked writer (its number cannot be reused)
    with os.fdopen(read_fd, "rb") as f:  # the reader wakes up: the writer finishes
        drain = threading.Thread(target=f.read, daemon=True)
        drain.start()
        sink._thread.join(30)
        assert not sink._thread.is_alive()
        os.close(write_fd)
        drain.join(30)
    assert sink.written == 20


async def test_jsonl_sink_caps_a_flood_of_one_word_tokens_too() -> None:
    # Envelope overhead counts, not just text: 20k tiny tokens hold ~35 MB in memory.
    factory = EventFactory()
    read_fd, write_fd = os.pipe()  # nobody reads
    cap = 4 * 1024 * 1024
    sink = JsonLinesSink(write_fd, close_fd=True, max_pending_bytes=cap)
    for i in range(20_000):
        sink.send(_token(factory, f"w{i} "))
    assert sink.pending_bytes <= cap
    assert sink.dropped > 10_000
    final = _token(factory, "end", is_final=True)  # a field's last chunk outranks tokens
    sink.send(final)
    assert sink.pending_bytes > cap
    with os.fdopen(read_fd, "rb") as f:
        drain = threading.Thread(target=f.read, daemon=True)
        drain.start()
        await asyncio.wait_for(sink.aclose(), 30)
        drain.join(30)
    assert sink.written + sink.dropped == 20_001
