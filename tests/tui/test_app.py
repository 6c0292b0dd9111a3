"""Functional tests of the real FlockApp driven by Pilot: state, widgets and messages."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.message import Message
from textual.widgets import Static

from engine.events import AgentCompleted, ConsoleOutput, MessagePublished, RunFinished
from flock_tui.app import FlockApp
from flock_tui.sources.base import SourceEnded, SourceNotice
from flock_tui.sources.replay import ReplaySource
from flock_tui.widgets.help import HelpScreen


async def test_one_pane_per_agent_with_pane_added_messages(tui):
    messages: list[Message] = []
    app = FlockApp(ReplaySource(tui.fixture("four_agents")))
    async with app.run_test(size=(160, 48), message_hook=messages.append) as pilot:
        await tui.wait_until_ended(app)
        await pilot.pause()
        assert list(app.panes) == ["agent_01", "agent_02", "agent_03", "agent_04"]
        added = [m.agent_name for m in messages if isinstance(m, FlockApp.PaneAdded)]
        assert added == list(app.panes)
        ended = [m for m in messages if isinstance(m, FlockApp.RunEnded)]
        assert len(ended) == 1 and ended[0].exit_code == 0
        assert all(p.display and p.size.height > 3 for p in app.panes.values())
        assert app.grid.layout_plan.columns * app.grid.layout_plan.rows >= 4
        assert {p.agent.badge for p in app.panes.values()} == {"done"}
        assert app.state.artifact_count == 5 and app.feed._count == 5


async def test_text_is_appended_in_order_per_field(tui, events):
    source = tui.ListSource([events.register("w"), events.activate("w", "r1")])
    app = FlockApp(source)
    async with app.run_test() as pilot:
        sent = []
        for batch in range(5):
            for i in range(40):
                word = f"t{batch * 40 + i} "
                sent.append(word)
                source.push(events.token("w", "r1", "body", word))
            source.push(events.token("w", "r1", "title", f"T{batch}"))
            await tui.wait_for_events(app, 2 + (batch + 1) * 41)
            await pilot.pause()
        pane = app.panes["w"]
        text = pane.run_text("r1")
        body = text.split("body:\n", 1)[1].split("\ntitle:", 1)[0]
        assert body.replace("\n", "") == "".join(sent).replace("\n", "")
        assert "title:\nT0T1T2T3T4" in text
        assert app.state.agents["w"].runs["r1"].field_text("body") == "".join(sent)


async def test_two_concurrent_runs_of_one_agent_never_mix(tui):
    app = FlockApp(ReplaySource(tui.fixture("concurrent_runs")))
    async with app.run_test(size=(120, 40)) as pilot:
        await tui.wait_until_ended(app)
        await pilot.pause()
        pane = app.panes["translator"]
        assert pane.run_ids() == ["run-a", "run-b"]
        a, b = pane.run_text("run-a"), pane.run_text("run-b")
        assert "beta" not in a and "alpha" not in b
        alpha = [w for w in a.split() if w.startswith("alpha")]
        assert alpha[:30] == [f"alpha{i}" for i in range(30)]
        assert pane.agent.iterations == 2


async def test_focus_moves_between_panes_across_pages(tui):
    app = FlockApp(ReplaySource(tui.fixture("sixteen_agents")))
    async with app.run_test(size=(80, 24)) as pilot:
        await tui.wait_until_ended(app)
        await pilot.pause()
        names = list(app.panes)
        assert app.focused_pane() is app.panes[names[0]]
        await pilot.press("tab")
        assert app.focused_pane() is app.panes[names[1]]
        await pilot.press("shift+tab", "shift+tab")
        last = app.panes[names[-1]]
        assert app.focused_pane() is last
        assert app.grid.page == app.grid.layout_plan.pages - 1 and last.display
        await pilot.press("]")
        assert app.focused_pane() is app.panes[names[0]] and app.grid.page == 0
        await pilot.press("[")
        assert app.focused_pane() is last


async def test_zoom_and_back_keeps_the_scroll_position(tui, events):
    source = tui.ListSource([events.register("a"), events.register("b"), events.activate("a", "r")])
    source.push(*[events.token("a", "r", "text", f"line {i}\n") for i in range(200)])
    app = FlockApp(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await tui.wait_for_events(app, 203)
        await pilot.pause()
        pane = app.panes["a"]
        assert pane.follow and pane.top == pane.max_top > 0
        pane.scroll_to_line(40)
        await pilot.pause()
        assert not pane.follow and pane.top == 40
        normal_size = pane.size
        await pilot.press("z")
        await pilot.pause()
        assert app.grid.zoomed is pane and not app.panes["b"].display
        assert pane.size.width * pane.size.height > normal_size.width * normal_size.height
        await pilot.press("z")
        await pilot.pause()
        await pilot.pause()
        assert app.grid.zoomed is None and app.panes["b"].display
        assert pane.size == normal_size
        assert pane.top == 40 and not pane.follow


async def test_follow_tail_pauses_when_scrolled_up_and_resumes_at_the_bottom(tui, events):
    source = tui.ListSource([events.register("a"), events.activate("a", "r")])
    source.push(*[events.token("a", "r", "text", f"line {i}\n") for i in range(100)])
    app = FlockApp(source)
    async with app.run_test() as pilot:
        await tui.wait_for_events(app, 102)
        await pilot.pause()
        pane = app.panes["a"]
        assert pane.follow and pane.top == pane.max_top
        await pilot.press("home")
        await pilot.pause()
        assert pane.top == 0 and not pane.follow
        source.push(*[events.token("a", "r", "text", f"more {i}\n") for i in range(50)])
        await tui.wait_for_events(app, 152)
        await pilot.pause()
        assert pane.top == 0, "scrolled-up pane must stay where the user put it"
        assert "paused" in str(pane.border_subtitle), "a paused tail is shown"
        await pilot.press("end")
        await pilot.pause()
        assert pane.follow and "paused" not in str(pane.border_subtitle)
        source.push(*[events.token("a", "r", "text", f"tail {i}\n") for i in range(20)])
        await tui.wait_for_events(app, 172)
        await pilot.pause()
        assert pane.top == pane.max_top
        assert pane.plain_lines()[-2:] == ["tail 19", ""]


async def test_feed_and_console_toggle_and_show_activity(tui, events):
    source = tui.ListSource(
        [
            events.register("w"),
            events(
                MessagePublished(
                    artifact_id="a1", artifact_type="Idea", produced_by="w", correlation_id="c-77"
                )
            ),
            SourceNotice("warning", "line 3: not JSON"),
        ]
    )
    app = FlockApp(source)
    async with app.run_test(size=(140, 40)) as pilot:
        await tui.wait_for_events(app, 3)
        await pilot.pause()
        assert app.feed_visible and not app.console_visible
        assert "Idea ← w · c-77" in app.feed.plain_lines()[0]
        await pilot.press("f")
        assert not app.feed_visible
        await pilot.press("f", "c")
        assert app.feed_visible and app.console_visible
        assert any("not JSON" in line for line in app.console_view.plain_lines())


async def test_quit_stops_the_source_and_returns_its_exit_code(tui, events):
    source = tui.ListSource([events.register("w")], stop_code=130)
    app = FlockApp(source)
    async with app.run_test() as pilot:
        await tui.wait_for_events(app, 1)
        await pilot.press("q")
        await tui.wait_for_exit(app)
    assert source.stopped
    assert app.return_code == 130


async def test_exit_on_finish_quits_with_the_run_exit_code(tui, events):
    source = tui.ListSource([events.register("w"), events(RunFinished(exit_code=3))])
    source.end(3)
    app = FlockApp(source, exit_on_finish=True)
    async with app.run_test() as pilot:
        await tui.wait_until_ended(app)
        await pilot.pause()
    assert app.return_code == 3


async def test_markup_and_escapes_are_shown_literally(tui):
    app = FlockApp(ReplaySource(tui.fixture("markup")))
    async with app.run_test(size=(120, 40)) as pilot:
        await tui.wait_until_ended(app)
        await pilot.pause()
        pane = app.panes["mischief"]
        lines = pane.plain_lines()
        text = "\n".join(lines)
        for literal in (
            "[red]x[/red]",
            "[link=http://e]y[/link]",
            "[bold]not bold[/]",
            "[blink]status",
        ):
            assert literal in text
        assert "ansi-red" in text and "osc-link" in text and "after-title" in text
        assert not any(ch in text for ch in "\x1b\x07\x08\r")
        # the line holding "[red]" is drawn in the plain text style: no colour, no link
        doc = pane.document
        index = next(i for i, line in enumerate(lines) if "[red]x" in line)
        strip = doc.strip(index, 100, pane.rich_style)
        assert "[red]x[/red]" in strip.text
        for segment in strip:
            style = segment.style
            assert style is None or (style.link is None and style.color == pane.rich_style.color)
        console = "\n".join(app.console_view.plain_lines())
        assert "[red]console[/red] bold" in console


async def test_a_one_megabyte_token_is_kept_whole(tui, events):
    big = ("0123456789abcdef" * 65_536)[:1_000_000]
    source = tui.ListSource([events.register("w"), events.activate("w", "r")])
    source.push(events.token("w", "r", "text", big), events.token("w", "r", "text", " END"))
    app = FlockApp(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await tui.wait_for_events(app, 4)
        await pilot.pause()
        pane = app.panes["w"]
        assert app.state.agents["w"].runs["r"].field_text("text") == big + " END"
        lines = pane.plain_lines()
        assert "".join(lines[2:]).replace(" END", "") == big
        assert lines[-1].endswith("END")
        assert pane.top == pane.max_top


async def test_replay_source_rejects_a_missing_file_in_one_line(tmp_path: Path):
    with pytest.raises(OSError) as info:
        ReplaySource(tmp_path / "nope.jsonl")
    assert "nope.jsonl" in str(info.value) and "\n" not in str(info.value)


async def test_replay_source_warns_about_bad_lines_and_goes_on(tui, tmp_path: Path):
    good = tui.fixture("one_agent").read_text().splitlines()
    record = tmp_path / "bad.jsonl"
    record.write_text("\n".join([good[0], "{not json", good[1], '{"v": 1}', *good[2:]]) + "\n")
    source = ReplaySource(record)
    app = FlockApp(source)
    async with app.run_test() as pilot:
        await tui.wait_until_ended(app)
        await pilot.pause()
        assert source.bad_lines == 2
        assert sum("bad.jsonl line" in w for w in app.state.warnings) == 2
        assert app.state.exit_code == 0 and app.state.agents["writer"].badge == "done"


async def test_help_shows_keys_and_legend_and_closes(tui, events):
    app = FlockApp(tui.ListSource([events.register("w")]))
    async with app.run_test(size=(120, 30)) as pilot:
        await tui.wait_for_events(app, 1)
        for close in ("question_mark", "escape"):
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            text = str(app.screen.query_one(Static).render())
            assert "zoom the focused pane" in text and "‖ paused" in text
            assert "QUEUED (triggered, waiting" in text
            await pilot.press(close)
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")  # with help closed, q quits as usual
        await tui.wait_for_exit(app)


async def test_status_bar_shows_totals_and_the_exit_code(tui):
    app = FlockApp(ReplaySource(tui.fixture("error_run")))
    async with app.run_test(size=(160, 48)) as pilot:
        await tui.wait_until_ended(app)
        await pilot.pause()
        text = str(app.status_bar.render())
        assert "FINISHED · exit 1" in text
        assert "0/2 running · 2 artifacts · 30 tok · 0.5s" in text
        assert app.panes["researcher"].agent.badge == "error"
        assert "ConnectionError" in app.panes["researcher"].run_text("run-r1")


async def test_replay_at_a_speed_paces_by_timestamps_and_can_be_stopped(tui):
    source = ReplaySource(tui.fixture("one_agent"), speed=0.5)  # 1.1 s of record -> 2.2 s
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(source.run(queue))
    await asyncio.sleep(0.3)
    assert 0 < queue.qsize() < 55, "pacing must hold events back"
    await source.stop()
    await asyncio.wait_for(task, 5)
    items = [queue.get_nowait() for _ in range(queue.qsize())]
    assert isinstance(items[-1], SourceEnded) and items[-1].reason == "replay stopped"


async def test_a_recorded_real_run_replays_every_agent_and_artifact(tui):
    """tests/fixtures/recorded_blog_review.jsonl: `flock-tui --record` of 03_blog_review.py."""
    app = FlockApp(ReplaySource(tui.fixture("recorded_blog_review")))
    async with app.run_test(size=(160, 48)) as pilot:
        await tui.wait_until_ended(app)
        await pilot.pause()
        state = app.state
        assert list(app.panes) == ["blog_writer", "seo_optimizer", "html_writer"]
        assert state.agents["blog_writer"].iterations == 2
        assert state.artifact_count == 6 and state.exit_code == 0
        for agent in state.agents.values():
            for run in agent.runs.values():
                assert run.status == "done" and run.artifacts
                drawn = app.panes[agent.name].run_text(run.run_id).replace("\n", "")
                for part in run.fields.values():
                    assert part.text.replace("\n", "") in drawn


async def test_an_event_the_state_cannot_fold_becomes_a_warning(tui, events, monkeypatch):
    from flock_tui.state import RunState

    original = RunState._on_stream

    def broken(self, payload, when, *more):
        if payload.content == "boom":
            raise RuntimeError("cannot fold this")
        original(self, payload, when, *more)

    monkeypatch.setattr(RunState, "_on_stream", broken)
    source = tui.ListSource(
        [
            events.activate("w", "r"),
            events.token("w", "r", "f", "boom"),
            events.token("w", "r", "f", "fine"),
        ]
    )
    app = FlockApp(source)
    async with app.run_test() as pilot:
        await tui.wait_for_events(app, 3)
        await pilot.pause()
        assert app.state.agents["w"].runs["r"].field_text("f") == "fine"
        assert any("cannot fold this" in w for w in app.state.warnings)


async def test_zooming_keeps_the_same_text_at_the_top_of_a_scrolled_pane(tui, events):
    source = tui.ListSource([events.register("a"), events.register("b"), events.activate("a", "r")])
    source.push(
        *[
            events.token("a", "r", "text", f"entry{i} " + "word " * (i % 17) + "\n")
            for i in range(300)
        ]
    )
    app = FlockApp(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await tui.wait_for_events(app, 303)
        await pilot.pause()
        pane = app.panes["a"]
        pane.scroll_to_line(120)
        await pilot.pause()
        first_word = pane.render_line(0).text.split()[0]
        narrow_top = pane.top
        await pilot.press("z")
        await pilot.pause()
        await pilot.pause()
        assert not pane.follow
        assert pane.top < narrow_top, "wider lines: the same text sits on an earlier line"
        assert first_word in pane.render_line(0).text
        await pilot.press("z")
        await pilot.pause()
        await pilot.pause()
        assert pane.top == narrow_top and first_word in pane.render_line(0).text


async def test_quit_waits_for_a_source_that_ends_a_moment_after_stop(tui, events, monkeypatch):
    """The quit action must see the late SourceEnded (the app's own loop is busy with the
    action meanwhile): with a 60 s stop timeout, quitting still ends within the test's
    10 s guard and returns the late exit code."""
    import flock_tui.app

    monkeypatch.setattr(flock_tui.app, "STOP_TIMEOUT", 60.0)

    class SlowStop(tui.ListSource):
        async def stop(self) -> None:
            self.stopped = True
            asyncio.get_running_loop().call_later(0.3, self.end, 7, "stopped late")

    source = SlowStop([events.register("w")])
    app = FlockApp(source)

    async def run() -> None:
        async with app.run_test() as pilot:
            await tui.wait_for_events(app, 1)
            await pilot.press("q")
            await tui.wait_for_exit(app)

    await asyncio.wait_for(run(), 10)
    assert source.stopped and app.return_code == 7


async def test_quit_twice_leaves_at_once_even_if_the_source_never_stops(tui, events):
    class Stuck(tui.ListSource):
        async def stop(self) -> None:
            self.stopped = True
            await asyncio.Event().wait()  # never returns

    source = Stuck([events.register("w")])
    app = FlockApp(source)
    async with app.run_test() as pilot:
        await tui.wait_for_events(app, 1)
        await pilot.press("q")
        await pilot.pause()
        assert source.stopped and app.return_code is None
        assert "quitting" in str(app.status_bar.render())
        await pilot.press("q")
        await tui.wait_for_exit(app)
    # The run's exit code is not known: the result says so (flock-tui then asks the
    # child process instead of claiming success).
    assert app.return_value is None


async def test_markdown_view_of_finished_fields_toggles_and_stays_safe(tui, events):
    text = "# Title\n\nSome **bold** words, `code` and [red]x[/red] [a link](http://evil)\n\n- one\n- two\n"
    source = tui.ListSource(
        [
            events.activate("w", "r"),
            events.token("w", "r", "body", text),
            events(AgentCompleted(agent_name="w", run_id="r")),
        ]
    )
    app = FlockApp(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await tui.wait_for_events(app, 3)
        await pilot.pause()
        pane = app.panes["w"]
        assert app.focused_pane() is pane

        def drawn() -> list:
            return [
                pane.document.strip(y, 90, pane.rich_style) for y in range(pane.document.height)
            ]

        assert any("**bold**" in strip.text for strip in drawn())
        await pilot.press("m")
        await pilot.pause()
        lines = drawn()
        bold_line = next(strip for strip in lines if "bold" in strip.text)
        assert "**" not in bold_line.text and "[red]x[/red]" in bold_line.text
        assert any(seg.style and seg.style.bold and "bold" in seg.text for seg in bold_line)
        assert all(not (seg.style and seg.style.link) for strip in lines for seg in strip)
        assert any("• one" in strip.text or "one" == strip.text.strip()[-3:] for strip in lines)
        assert "markdown" in str(pane.border_title)
        await pilot.press("m")
        await pilot.pause()
        assert any("**bold**" in strip.text for strip in drawn())
        assert "markdown" not in str(pane.border_title)


async def test_a_one_megabyte_line_survives_zoom_and_back(tui, events):
    big = "x" * 1_000_000
    source = tui.ListSource([events.register("w"), events.register("v"), events.activate("w", "r")])
    source.push(events.token("w", "r", "text", big))
    app = FlockApp(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await tui.wait_for_events(app, 4)
        await pilot.pause()
        pane = app.panes["w"]
        narrow = pane.document.height
        await pilot.press("z")
        await pilot.pause()
        assert pane.document.height < narrow
        await pilot.press("z")
        await pilot.pause()
        assert pane.document.height == narrow
        shown = "".join(pane.plain_lines()[2:])
        # a narrow pane keeps its last 20,000 lines (the state keeps the whole text)
        assert big.endswith(shown) and len(shown) > 800_000
        assert app.state.agents["w"].runs["r"].field_text("text") == big


async def test_a_run_that_ends_before_any_agent_says_so_and_opens_the_console(tui, events):
    """A script that crashes at import: no panes will come, so the placeholder must not
    go on saying it waits; the traceback (console) opens by itself."""
    source = tui.ListSource(
        [
            events(ConsoleOutput(stream="stderr", text="Traceback (most recent call last):\n")),
            events(ConsoleOutput(stream="stderr", text="ImportError: no module named nope\n")),
        ]
    )
    source.end(1, "crashed")
    app = FlockApp(source)
    async with app.run_test() as pilot:
        await tui.wait_until_ended(app)
        await pilot.pause()
        waiting = str(app.query_one("#waiting", Static).render())
        assert "waiting for events" not in waiting
        assert "ended before any agent started: crashed (exit code 1)" in waiting
        assert app.console_visible
        assert any("ImportError" in line for line in app.console_view.plain_lines())


async def test_tab_reaches_the_console_when_it_is_shown_and_its_keys_scroll_it(tui, events):
    lines = [events(ConsoleOutput(stream="stdout", text=f"print {i}\n")) for i in range(300)]
    source = tui.ListSource([events.register("a"), events.register("b"), *lines])
    app = FlockApp(source)
    async with app.run_test(size=(100, 40)) as pilot:
        await tui.wait_for_events(app, 302)
        await pilot.pause()
        order = []
        for _ in range(3):
            await pilot.press("tab")
            order.append(app.focused)
        assert order == [app.panes["b"], app.panes["a"], app.panes["b"]]  # console hidden
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("tab")
        assert app.focused is app.console_view
        console = app.console_view
        bottom = console.top
        await pilot.press("pageup")
        await pilot.pause()
        assert console.top < bottom and not console.follow
        await pilot.press("tab")
        assert app.focused is app.panes["a"]
