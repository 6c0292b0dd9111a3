"""Plain line output: the renderer on its own, and real example runs piped through `cat`."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from engine.events import (
    AgentActivated,
    AgentCompleted,
    AgentError,
    AgentRegistered,
    ConsoleOutput,
    EventFactory,
    MessagePublished,
    RunStarted,
    StreamingOutput,
    decode,
)
from flock_tui.plain import PlainRenderer
from flock_tui.sources.base import SourceEnded, SourceNotice

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 300


EXITED = SourceEnded(0, "exited")


def render(*payloads, end: SourceEnded | None = EXITED) -> list[str]:
    out = io.StringIO()
    renderer = PlainRenderer(out)
    factory = EventFactory()
    for payload in payloads:
        if isinstance(payload, SourceNotice):
            renderer.handle(payload)
        else:
            renderer.handle(factory.make(payload))
    if end is not None:
        renderer.handle(end)
    return out.getvalue().splitlines()


def tok(content: str, field: str = "body", run: str = "r1", agent: str = "writer", **kw):
    return StreamingOutput(agent_name=agent, run_id=run, field=field, content=content, **kw)


def test_fields_print_once_when_finished_not_per_token():
    lines = render(
        AgentActivated(agent_name="writer", run_id="r1", consumed_types=["Idea"]),
        tok("Cats "),
        tok("rule"),
        tok("", is_final=True),
        tok("A "),
        tok("b", field="title"),  # a new field finishes the previous one
        AgentCompleted(agent_name="writer", run_id="r1", duration_ms=2500, metrics={"tokens": 4}),
    )
    assert lines == [
        "[writer #1] started on Idea (run r1)",
        "[writer #1] body: Cats rule",
        "[writer #1] body: A ",
        "[writer #1] title: b",
        "[writer #1] done in 2.5 s, 4 tokens",
        "[end] exited (exit code 0); 0 artifacts",
    ]


def test_concurrent_runs_and_iterations_do_not_mix():
    lines = render(
        AgentActivated(agent_name="w", run_id="a"),
        AgentActivated(agent_name="w", run_id="b"),
        tok("one ", agent="w", run="a"),
        tok("two ", agent="w", run="b"),
        tok("more", agent="w", run="a"),
        tok("more", agent="w", run="b"),
        AgentCompleted(agent_name="w", run_id="b"),
        AgentError(
            agent_name="w", run_id="a", error_type="ValueError", error_message="bad\noutput"
        ),
    )
    assert lines[:2] == ["[w #1] started on - (run a)", "[w #2] started on - (run b)"]
    assert "[w #2] body: two more" in lines and "[w #1] body: one more" in lines
    assert "[w #1] ERROR ValueError: bad output" in lines
    assert lines[-1] == "[end] exited (exit code 0); 0 artifacts, 1 agent error"


def test_artifacts_are_key_value_lines_and_streamed_text_is_not_repeated():
    body = "word " * 40
    lines = render(
        AgentActivated(agent_name="writer", run_id="r1"),
        tok(body),
        MessagePublished(
            artifact_id="0123456789abcdef",
            artifact_type="Blog",
            produced_by="writer",
            run_id="r1",
            correlation_id="c0ffee00c0ffee",
            payload={"body": body, "score": 7, "tags": ["a", "b"], "meta": {"k": 1}, "none": None},
        ),
    )
    i = lines.index("[published] Blog by writer (artifact 01234567, correlation c0ffee00)")
    assert lines[i + 1 : i + 9] == [
        f"    body: (streamed above, {len(body)} characters)",
        "    score: 7",
        "    tags:",
        "        - a",
        "        - b",
        "    meta: k: 1",
        "    none: null",
        "[end] exited (exit code 0); 1 artifact",
    ]


def test_untrusted_text_is_sanitised():
    evil = "\x1b]52;c;ZXZpbA==\x07\x1b[2J\x1b[31mred\x1b[0m [bold]x[/bold]\x07\r"
    lines = render(
        RunStarted(script="s.py\x1b[H", model="m\x1b[5m"),
        AgentRegistered(name="a\x1b[1mgent", consumes=["T\x9b1m"]),
        AgentActivated(agent_name="a\x1b[1mgent", run_id="r"),
        tok(evil, agent="a\x1b[1mgent", run="r", is_final=True),
        ConsoleOutput(stream="stderr", text=evil),
        SourceNotice("warning", evil),
        MessagePublished(
            artifact_id="x",
            artifact_type="T\x1b[1m",
            produced_by="p",
            payload={"k\x1b[1m": evil},
        ),
    )
    text = "\n".join(lines)
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text and "\r" not in text
    assert "red [bold]x[/bold]" in text  # markup-looking text is kept literally
    assert "[agent] agent registered" in text


def test_unknown_event_types_are_skipped():
    out = io.StringIO()
    renderer = PlainRenderer(out)
    renderer.handle(
        decode(
            '{"v":1,"seq":1,"event_type":"future_thing","timestamp":"t","session_id":"s","data":{}}'
        )
    )
    assert out.getvalue() == ""


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flock_tui", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=cwd,
        env={**os.environ, "FLOCK_OFFLINE_TPS": "0"},
    )


def test_blog_review_plain_output_with_record_then_replay_matches(tmp_path):
    record = tmp_path / "blog.jsonl"
    live = run_cli("--record", str(record), "examples/03_blog_review.py")
    assert live.returncode == 0, live.stderr
    lines = live.stdout.splitlines()
    assert lines[0].startswith("[run] started examples/03_blog_review.py")
    for agent in ("blog_writer", "seo_optimizer", "html_writer"):
        assert any(line.startswith(f"[agent] {agent} registered") for line in lines)
    assert any(line.startswith("[published] Blog by blog_writer") for line in lines)
    assert any(line.startswith("[published] Review by seo_optimizer") for line in lines)
    assert any(line.startswith("[blog_writer #2] started on Review") for line in lines)
    assert lines[-1].startswith("[end] exited (exit code 0);")
    # The record holds every event in one strictly increasing seq order, ending with
    # the exit code.
    envelopes = [decode(line) for line in record.read_text().splitlines()]
    assert [e.seq for e in envelopes] == list(range(1, len(envelopes) + 1))
    assert envelopes[-1].event_type == "run_finished"
    assert envelopes[-1].data["exit_code"] == 0
    # A replay of the record prints exactly the same lines.
    replay = run_cli("replay", str(record))
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout == live.stdout


def test_recorded_exit_code_is_the_replay_exit_code(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text("print('about to fail')\nraise SystemExit(4)\n")
    record = tmp_path / "fail.jsonl"
    live = run_cli("--record", str(record), str(script), cwd=tmp_path)
    assert live.returncode == 4
    replay = run_cli("replay", str(record), cwd=tmp_path)
    assert replay.returncode == 4
    assert replay.stdout == live.stdout
    assert "[stdout] about to fail" in replay.stdout


def test_a_crash_mid_stream_in_plain_mode_keeps_the_partial_text(tmp_path):
    script = tmp_path / "crash.py"
    script.write_text(
        "import os\n"
        "from engine.events import EventFactory, AgentActivated, StreamingOutput, encode_line\n"
        "fd = int(os.environ['FLOCK_TUI_EVENT_FD'])\n"
        "f = EventFactory()\n"
        "os.write(fd, encode_line(f.make(AgentActivated(agent_name='writer', run_id='r1'))))\n"
        "for i, t in enumerate(['half of ', 'a sentence']):\n"
        "    os.write(fd, encode_line(f.make(StreamingOutput(\n"
        "        agent_name='writer', run_id='r1', field='body', content=t, sequence=i))))\n"
        "raise RuntimeError('boom in the middle')\n"
    )
    result = run_cli(str(script), cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "[stderr] RuntimeError: boom in the middle" in lines
    assert "[writer #1] body: half of a sentence" in lines
    assert lines[-1] == "[end] crashed (exit code 1); 0 artifacts"


def test_engine_notices_reach_the_pipe_and_the_record(tmp_path):
    """A published type no agent consumes and an AND gate left half-filled are told to
    the user through the event pipe (the engine prints nothing itself under flock-tui)."""
    script = tmp_path / "unconsumed.py"
    script.write_text(
        "import asyncio\n"
        "from pydantic import BaseModel\n"
        "from engine import Flock, flock_type\n"
        "@flock_type\n"
        "class Left(BaseModel):\n    x: int = 1\n"
        "@flock_type\n"
        "class Right(BaseModel):\n    y: int = 2\n"
        "@flock_type\n"
        "class Orphan(BaseModel):\n    z: int = 3\n"
        "@flock_type\n"
        "class Both(BaseModel):\n    text: str\n"
        "flock = Flock()\n"
        "flock.agent('judge').consumes(Left, Right).publishes(Both)\n"
        "async def main():\n"
        "    await flock.publish(Orphan())\n"
        "    await flock.publish(Left())\n"
        "    await flock.run_until_idle()\n"
        "asyncio.run(main())\n"
    )
    record = tmp_path / "run.jsonl"
    result = run_cli("--record", str(record), str(script), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[warning] no agent consumes Orphan; it is stored on the blackboard" in (
        result.stdout.splitlines()
    ), result.stdout
    assert "[warning] judge is still waiting for Right to join Left" in result.stdout
    notices = [
        e.data for e in map(decode, record.read_text().splitlines()) if e.event_type == "notice"
    ]
    assert {"level": "warning", "text": "judge is still waiting for Right to join Left"} in (
        notices
    )


def test_ids_from_the_child_are_sanitized_too():
    lines = render(
        AgentActivated(agent_name="writer", run_id="\x1b]0;PWN\x07r1", consumed_types=["Idea"]),
        tok("text", run="\x1b]0;PWN\x07r1"),
        MessagePublished(
            artifact_id="\x1b[2J\x1b[H",
            artifact_type="Note",
            produced_by="writer",
            payload={"k": 1},
            correlation_id="\x1b[?1049h",
        ),
    )
    assert lines and not any("\x1b" in line or "\x07" in line for line in lines)
