"""Notices are recorded: a replay shows the live run's warnings, on the same screen.

The child runner's warnings (a garbled line on the event pipe, ...) are `notice` events
in its own seq order, so `--record` keeps them; info notices are shown but not counted
as warnings; wrappers pass the inner source's `live` flag through.
"""

from __future__ import annotations

import asyncio
import html
import io
import re
import textwrap
from pathlib import Path

from textual.scroll_view import ScrollView

from engine.events import (
    LIFECYCLE_EVENTS,
    Envelope,
    EventFactory,
    RunFinished,
    RunNotice,
    decode,
)
from flock_tui.app import FlockApp
from flock_tui.bridge import Bridge
from flock_tui.plain import PlainRenderer
from flock_tui.record import Recorder
from flock_tui.sources.base import SourceEnded, SourceNotice
from flock_tui.sources.bridged import BridgedSource
from flock_tui.sources.child import ChildProcessSource
from flock_tui.sources.replay import ReplaySource
from flock_tui.sources.tee import TeeSource
from flock_tui.sources.websocket import WebSocketSource
from flock_tui.state import RunState

TIMEOUT = 120
SIZE = (120, 40)
TITLE = "notices"

# Console lines and garbled event lines go through different pipes; the pauses let the
# runner read them in this order, so the live app sees them in several batches while a
# replay reads the whole record in one: the console must not depend on the batching.
CHILD = textwrap.dedent(
    """
    import os, time
    from engine.events import (EventFactory, RunStarted, AgentRegistered, AgentActivated,
        StreamingOutput, AgentCompleted, encode_line)
    FD = int(os.environ["FLOCK_TUI_EVENT_FD"])
    factory = EventFactory(session_id="child-session")
    def send(payload):
        os.write(FD, encode_line(factory.make(payload)))
    send(RunStarted(script="child.py"))
    print("console before")
    time.sleep(0.3)
    os.write(FD, b"garbage, not json\\n")
    time.sleep(0.3)
    print("console between")
    time.sleep(0.3)
    os.write(FD, b'{"v": 1, "seq": 3, "event_typ\\n')   # a truncated line
    time.sleep(0.3)
    print("console after")
    send(AgentRegistered(name="writer", consumes=["Idea"], publishes=["Blog"]))
    send(AgentActivated(agent_name="writer", run_id="r1", consumed_types=["Idea"]))
    send(StreamingOutput(agent_name="writer", run_id="r1", field="body", content="still here",
                         is_final=True))
    send(AgentCompleted(agent_name="writer", run_id="r1"))
    """
)


def screen_text(app: FlockApp) -> str:
    """The screen as plain text rows (what a terminal would show, without colours)."""
    svg = app.export_screenshot()
    rows: dict[float, list[tuple[float, str]]] = {}
    for x, y, text in re.findall(r'<text[^>]*x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        rows.setdefault(float(y), []).append((float(x), text))
    lines = []
    for y in sorted(rows):
        lines.append(html.unescape("".join(t for _, t in sorted(rows[y]))).replace("\xa0", " "))
    return "\n".join(lines)


async def final_screen(app: FlockApp) -> str:
    """Run `app` to the end of its source with the console shown; the screen as text."""
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.source_finished.wait(), TIMEOUT)
        if not app.console_visible:
            await pilot.press("c")
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.2)
        for view in app.query(ScrollView):
            view.scroll_end(animate=False, immediate=True)
        await pilot.pause(0.2)
        assert app.console_visible
        screen = screen_text(app)
        await pilot.press("q")
        await pilot.pause()
    return screen


def console_of(app: FlockApp) -> list[tuple[str, str]]:
    return [(line.stream, line.text) for line in app.state.console]


async def test_a_replay_of_a_record_shows_the_live_runs_warnings_on_the_same_screen(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    record = tmp_path / "run.jsonl"
    recorder = Recorder(record)
    live_app = FlockApp(TeeSource(ChildProcessSource(script, []), recorder), title=TITLE)
    try:
        live = await final_screen(live_app)
    finally:
        recorder.close()
    assert live_app.return_code == 0

    # The record holds the warnings as notice events, in the runner's own seq order.
    envelopes = [decode(line) for line in record.read_text().splitlines()]
    seqs = [e.seq for e in envelopes]
    assert all(a < b for a, b in zip(seqs, seqs[1:], strict=False))
    notices = [e for e in envelopes if e.event_type == "notice"]
    assert [n.data["level"] for n in notices] == ["warning"] * 3  # 2 lines + a summary
    assert "not JSON" in notices[0].data["text"] and "1 skipped so far" in notices[0].data["text"]
    assert "2 skipped so far" in notices[1].data["text"]
    assert "2 garbled line(s) skipped in total" in notices[2].data["text"]
    assert {n.session_id for n in notices} == {"child-session"}
    assert envelopes[-1].event_type == "run_finished"
    assert envelopes[-1].data["totals"]["garbled_lines"] == 2

    # The live run counted and showed them ...
    state = live_app.state
    assert state.warning_count == 3 and len(state.warnings) == 3
    assert "⚠ 3 warnings" in live
    assert "garbled" in live and "console between" in live
    streams = [stream for stream, _ in console_of(live_app)]
    assert streams.count("warning") == 3 and streams.count("stdout") == 3

    # ... and so does the replay of its record: same model, same console, same screen.
    replay_app = FlockApp(ReplaySource(record), title=TITLE)
    replayed = await final_screen(replay_app)
    assert replay_app.state.warning_count == state.warning_count
    assert list(replay_app.state.warnings) == list(state.warnings)
    assert console_of(replay_app) == console_of(live_app)
    assert replay_app.console_view.plain_lines() == live_app.console_view.plain_lines()
    (tmp_path / "live.txt").write_text(live)
    (tmp_path / "replayed.txt").write_text(replayed)
    assert replayed == live

    # A TUI attached over WebSocket to a bridge carrying that run shows them too.
    bridge = Bridge(port=0)
    await bridge.start()
    try:
        for envelope in envelopes:
            bridge.publish(envelope)
        attached = FlockApp(WebSocketSource(bridge.ws_url), title=TITLE)
        async with attached.run_test(size=SIZE) as pilot:

            async def all_seen() -> None:
                while attached.state.events < len(envelopes):
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(all_seen(), TIMEOUT)
            await bridge.close("run finished")
            await asyncio.wait_for(attached.source_finished.wait(), TIMEOUT)
            assert attached.state.warning_count == 3
            assert console_of(attached) == console_of(live_app)
            await pilot.press("q")
            await pilot.pause()
    finally:
        await bridge.close("test over")


def notice(factory: EventFactory, level: str, text: str) -> Envelope:
    return factory.make(RunNotice(level=level, text=text))  # type: ignore[arg-type]


def test_a_notice_event_is_folded_like_a_source_notice_and_info_is_not_a_warning():
    factory = EventFactory(session_id="s")
    by_event, by_notice = RunState(), RunState()
    for level, text in [
        ("info", "dashboard: http://127.0.0.1:8344/"),
        ("warning", "event pipe: skipped a garbled line"),
        ("info", "reconnected; resuming after seq 3"),
        ("error", "could not start x.py"),
    ]:
        by_event.apply(notice(factory, level, text))
        by_notice.apply(SourceNotice(level, text))  # type: ignore[arg-type]
    for state in (by_event, by_notice):
        assert state.warning_count == 2
        assert list(state.warnings) == [
            "warning: event pipe: skipped a garbled line",
            "error: could not start x.py",
        ]
        assert [(c.stream, c.text) for c in state.console] == [
            ("info", "info: dashboard: http://127.0.0.1:8344/"),
            ("warning", "warning: event pipe: skipped a garbled line"),
            ("info", "info: reconnected; resuming after seq 3"),
            ("warning", "error: could not start x.py"),
        ]
    assert "notice" not in LIFECYCLE_EVENTS  # droppable for a slow browser, like console


async def test_an_info_notice_is_shown_in_the_console_but_not_counted(tui, events):
    source = tui.ListSource(
        [
            events.register("w"),
            SourceNotice("info", "dashboard: http://127.0.0.1:8344/"),
            events(RunNotice(level="info", text="reconnected; resuming after seq 1")),
        ]
    )
    app = FlockApp(source)
    async with app.run_test(size=SIZE) as pilot:
        await tui.wait_for_events(app, 3)
        await pilot.press("c")
        await pilot.pause()
        assert app.state.warning_count == 0
        assert "warning" not in app.status_bar.render().plain
        lines = app.console_view.plain_lines()
        assert "info: dashboard: http://127.0.0.1:8344/" in lines
        assert "info: reconnected; resuming after seq 1" in lines
        assert not any(line.startswith("⚠") for line in lines)
        source.push(events(RunNotice(level="warning", text="bad line")))
        await tui.wait_for_events(app, 4)
        await pilot.pause()
        assert app.state.warning_count == 1
        assert "⚠ 1 warning" in app.status_bar.render().plain
        assert app.console_view.plain_lines()[-1] == "⚠ warning: bad line"
        source.end()
        await tui.wait_until_ended(app)


def test_plain_output_prints_a_notice_event_like_a_notice():
    factory = EventFactory(session_id="s")
    out = io.StringIO()
    renderer = PlainRenderer(out)
    renderer.handle(notice(factory, "warning", "event pipe: skipped \x1b[31ma line"))
    renderer.handle(SourceNotice("warning", "event pipe: skipped \x1b[31ma line"))
    renderer.handle(notice(factory, "info", "dashboard: http://127.0.0.1:8344/"))
    lines = out.getvalue().splitlines()
    assert lines[0] == lines[1] == "[warning] event pipe: skipped a line"
    assert lines[2] == "[info] dashboard: http://127.0.0.1:8344/"


def one_notice_record(tmp_path: Path) -> Path:
    """A record holding one recorded warning."""
    record = tmp_path / "run.jsonl"
    envelope = notice(EventFactory(session_id="s"), "warning", "recorded")
    record.write_text(envelope.model_dump_json() + "\n")
    return record


async def test_wrappers_pass_the_inner_sources_live_flag_through(tmp_path):
    record = one_notice_record(tmp_path)
    replay = ReplaySource(record)
    live = ChildProcessSource(tmp_path / "child.py", [])
    assert TeeSource(replay).live is False
    assert TeeSource(live).live is True
    assert BridgedSource(TeeSource(replay), lambda: Bridge(port=0)).live is False
    assert BridgedSource(live, lambda: Bridge(port=0)).live is True
    app = FlockApp(BridgedSource(TeeSource(replay), lambda: Bridge(port=0)))
    assert app.live is False
    assert FlockApp(TeeSource(live)).live is True


async def test_web_mode_shows_the_dashboard_address_in_the_status_bar(tmp_path):
    """With --web the address (and its token) is on screen, not only in the console."""
    record = one_notice_record(tmp_path)
    source = BridgedSource(TeeSource(ReplaySource(record)), lambda: Bridge(port=0, token="s3"))
    app = FlockApp(source)
    async with app.run_test(size=(160, 20)) as pilot:
        async with asyncio.timeout(TIMEOUT):
            while not app.state.source_ended:
                await pilot.pause(0.05)
        await pilot.pause()
        status = str(app.status_bar.render())
        assert source.dashboard_url is not None and source.dashboard_url.endswith("?token=s3")
        assert f"dashboard {source.dashboard_url}" in status
        await source.aclose("test over")


async def test_stopping_a_web_run_lets_its_last_events_reach_the_browsers_first():
    """q under --web: the run's run_finished (its exit code) reaches the bridge before the
    bridge closes, so the page can say how the run ended."""
    factory = EventFactory(session_id="s")
    log: list[str] = []

    class Stopping:
        description = "stopping"
        live = True

        def __init__(self) -> None:
            self.queue: asyncio.Queue | None = None
            self.done = asyncio.Event()

        async def run(self, queue: asyncio.Queue) -> None:
            self.queue = queue
            await self.done.wait()

        async def stop(self) -> None:  # the child takes a moment to exit, then reports
            async def report() -> None:
                await asyncio.sleep(0.2)
                assert self.queue is not None
                self.queue.put_nowait(factory.make(RunFinished(exit_code=130)))
                self.queue.put_nowait(SourceEnded(exit_code=130, reason="stopped by user"))
                self.done.set()

            asyncio.get_running_loop().create_task(report())

    class FakeBridge:
        async def start(self) -> str:
            return "http://127.0.0.1:1/"

        def publish(self, envelope: Envelope) -> None:
            log.append(envelope.event_type)

        async def close(self, reason: str) -> None:
            log.append(f"closed: {reason}")

    inner = Stopping()
    source = BridgedSource(inner, FakeBridge)
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(source.run(queue))
    async with asyncio.timeout(TIMEOUT):
        while inner.queue is None:
            await asyncio.sleep(0.01)
        await source.stop()
        await task
    assert log == ["run_finished", "closed: stopped"]
