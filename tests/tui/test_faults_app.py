"""The same faults, seen through the real app: a real child process feeding FlockApp."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

from flock_tui.app import FlockApp
from flock_tui.sources.child import ChildProcessSource
from flock_tui.sources.tee import TeeSource

TIMEOUT = 120
SIZE = (120, 40)

PRELUDE = textwrap.dedent(
    """
    import os, sys
    from engine.events import (EventFactory, AgentRegistered, AgentActivated,
        StreamingOutput, AgentCompleted, encode_line)
    FD = int(os.environ["FLOCK_TUI_EVENT_FD"])
    factory = EventFactory()
    def send(payload):
        os.write(FD, encode_line(factory.make(payload)))
    def tok(i, text, final=False):
        send(StreamingOutput(agent_name="writer", run_id="r1", field="body", content=text,
                             sequence=i, is_final=final))
    send(AgentRegistered(name="writer", consumes=["Idea"], publishes=["Blog"]))
    send(AgentActivated(agent_name="writer", run_id="r1", consumed_types=["Idea"]))
    """
)


def app_for(tmp_path: Path, body: str, prelude: bool = True) -> FlockApp:
    script = tmp_path / "child.py"
    script.write_text((PRELUDE if prelude else "") + textwrap.dedent(body))
    return FlockApp(TeeSource(ChildProcessSource(script, [])), title="faults")


async def run_to_end(app: FlockApp):  # noqa: ANN201 - returns the Pilot context's result
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.source_finished.wait(), TIMEOUT)
        await pilot.pause()
        screen = app.export_screenshot()
        await pilot.press("q")
        await pilot.pause()
    return screen


async def test_crash_mid_stream_shows_the_error_keeps_the_transcript_reports_the_code(tmp_path):
    app = app_for(
        tmp_path,
        """
        tok(0, "half of ")
        tok(1, "a sentence")
        raise RuntimeError("boom in the middle")
        """,
    )
    screen = await run_to_end(app)
    state = app.state
    assert state.exit_code == 1 and app.return_code == 1
    writer = state.agents["writer"]
    assert writer.badge == "error"
    assert writer.runs["r1"].field_text("body") == "half of a sentence"
    console = [line.text for line in state.console]
    assert "RuntimeError: boom in the middle" in console
    assert "ERROR" in screen and "half" in screen


async def test_garbage_on_the_pipe_is_a_warning_and_the_run_goes_on(tmp_path):
    app = app_for(
        tmp_path,
        """
        os.write(FD, b"garbage\\n")
        os.write(FD, b'{"v": 1, "seq": 3, "event_typ\\n')
        tok(0, "still here", final=True)
        send(AgentCompleted(agent_name="writer", run_id="r1"))
        """,
    )
    await run_to_end(app)
    state = app.state
    warnings = [w for w in state.warnings if "garbled" in w]
    assert len(warnings) == 3  # two lines, one summary
    assert "2 skipped so far" in warnings[1]
    writer = state.agents["writer"]
    assert writer.badge == "done"
    assert writer.runs["r1"].field_text("body") == "still here"
    assert state.exit_code == 0


async def test_a_child_that_never_sends_anything(tmp_path):
    app = app_for(tmp_path, "print('only console')\nraise SystemExit(3)\n", prelude=False)
    await run_to_end(app)
    assert app.state.agents == {}
    assert [line.text for line in app.state.console] == ["only console"]
    assert app.state.exit_code == 3 and app.return_code == 3


async def test_one_megabyte_token(tmp_path):
    app = app_for(
        tmp_path,
        """
        tok(0, "x" * (1024 * 1024))
        tok(1, " end", final=True)
        send(AgentCompleted(agent_name="writer", run_id="r1"))
        """,
    )
    await run_to_end(app)
    text = app.state.agents["writer"].runs["r1"].field_text("body")
    assert len(text) == 1024 * 1024 + 4 and text.endswith("x end")


async def test_a_flood_of_100000_print_lines(tmp_path):
    app = app_for(
        tmp_path,
        """
        for i in range(100_000):
            print(f"line {i}")
        tok(0, "after the flood", final=True)
        send(AgentCompleted(agent_name="writer", run_id="r1"))
        """,
    )
    await run_to_end(app)
    console = [line.text for line in app.state.console]
    # The console keeps a bounded tail; the last lines are all there, in order.
    assert console[-3:] == ["line 99997", "line 99998", "line 99999"]
    tail = console[-len(console) :]
    first = int(tail[0].split()[1])
    assert tail == [f"line {i}" for i in range(first, 100_000)]
    assert app.state.agents["writer"].badge == "done"
