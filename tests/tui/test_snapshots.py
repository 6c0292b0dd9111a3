"""SVG snapshots of the app replaying recorded fixtures (deterministic: event time only).

Regenerate with `pytest tests/tui/test_snapshots.py --snapshot-update`, then look at the
SVGs in snapshots/test_snapshots/.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from flock_tui.app import FlockApp
from flock_tui.sources.base import SourceEnded, SourceItem
from flock_tui.sources.replay import ReplaySource

SMALL = (80, 24)
LARGE = (160, 48)


def replay_app(tui, name: str) -> FlockApp:
    return FlockApp(ReplaySource(tui.fixture(name)))


def settled(*keys: str) -> Callable[[Pilot], Awaitable[None]]:
    """Wait until the whole record is applied and drawn, then press `keys`."""

    async def run_before(pilot: Pilot) -> None:
        await asyncio.wait_for(pilot.app.source_finished.wait(), 20)  # type: ignore[attr-defined]
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_one_agent(snap_compare, tui, size):
    assert snap_compare(replay_app(tui, "one_agent"), terminal_size=size, run_before=settled())


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_four_agents(snap_compare, tui, size):
    assert snap_compare(replay_app(tui, "four_agents"), terminal_size=size, run_before=settled())


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_sixteen_agents(snap_compare, tui, size):
    assert snap_compare(replay_app(tui, "sixteen_agents"), terminal_size=size, run_before=settled())


def test_sixteen_agents_second_page_focused(snap_compare, tui):
    """At 80x24 sixteen panes do not fit: shift+tab wraps to the last pane's page."""
    assert snap_compare(
        replay_app(tui, "sixteen_agents"), terminal_size=SMALL, run_before=settled("shift+tab")
    )


def test_focus_moves_to_the_next_pane(snap_compare, tui):
    assert snap_compare(
        replay_app(tui, "four_agents"), terminal_size=LARGE, run_before=settled("tab")
    )


def test_zoomed_pane(snap_compare, tui):
    assert snap_compare(
        replay_app(tui, "four_agents"), terminal_size=LARGE, run_before=settled("tab", "z")
    )


def test_zoom_and_back(snap_compare, tui):
    assert snap_compare(
        replay_app(tui, "four_agents"), terminal_size=LARGE, run_before=settled("z", "z")
    )


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_running_badges_in_a_record_cut_mid_run(snap_compare, tui, size):
    assert snap_compare(replay_app(tui, "mid_run"), terminal_size=size, run_before=settled())


def test_error_badge_and_exit_code(snap_compare, tui):
    assert snap_compare(replay_app(tui, "error_run"), terminal_size=LARGE, run_before=settled())


def test_error_run_with_console(snap_compare, tui):
    assert snap_compare(replay_app(tui, "error_run"), terminal_size=LARGE, run_before=settled("c"))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_agent_that_ran_three_times(snap_compare, tui, size):
    assert snap_compare(replay_app(tui, "blog_loop"), terminal_size=size, run_before=settled())


def test_writer_zoomed_scrolled_to_its_first_run(snap_compare, tui):
    assert snap_compare(
        replay_app(tui, "blog_loop"), terminal_size=LARGE, run_before=settled("z", "home")
    )


def test_markup_and_escapes_shown_literally(snap_compare, tui):
    assert snap_compare(replay_app(tui, "markup"), terminal_size=LARGE, run_before=settled("c"))


def test_concurrent_runs_in_separate_sections(snap_compare, tui):
    assert snap_compare(
        replay_app(tui, "concurrent_runs"), terminal_size=SMALL, run_before=settled("z")
    )


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_recorded_blog_review(snap_compare, tui, size):
    """A real run of examples/03_blog_review.py, recorded with `flock-tui --record`."""
    assert snap_compare(
        replay_app(tui, "recorded_blog_review"), terminal_size=size, run_before=settled()
    )


def test_recorded_blog_review_zoomed_as_markdown(snap_compare, tui):
    assert snap_compare(
        replay_app(tui, "recorded_blog_review"),
        terminal_size=LARGE,
        run_before=settled("z", "m", "home"),
    )


# ------------------------------------------------------------ the news desk (README)
NEWS_DESK_TITLE = "flock-tui · examples/16_news_desk.py"


class HeldReplay:
    """A record cut mid-run, replayed and then held open as a live run would be.

    Everything but the final SourceEnded is handed over, so the screen shows the run as it
    was at the cut (RUNNING panes, not ENDED); `stop()` ends it.
    """

    live = False

    def __init__(self, path: Path) -> None:
        self._inner = ReplaySource(path)
        self.description = self._inner.description
        self.sent = 0
        self.loaded = asyncio.Event()
        self._stopped = asyncio.Event()

    async def run(self, queue: asyncio.Queue[SourceItem]) -> None:
        relay: asyncio.Queue[SourceItem] = asyncio.Queue()
        await self._inner.run(relay)
        while not relay.empty():
            item = relay.get_nowait()
            if not isinstance(item, SourceEnded):
                queue.put_nowait(item)
                self.sent += 1
        self.loaded.set()
        await self._stopped.wait()
        queue.put_nowait(SourceEnded(exit_code=None, reason="stopped"))

    async def stop(self) -> None:
        self._stopped.set()


class ReadmeApp(FlockApp):
    """The app as in an ordinary run of eight analysts at 40 tok/s (about 320 events/s,
    below `load_rate`): following panes keep their newest line on the bottom row.
    A replay applies the record far faster than that, so the rate is pinned here."""

    load_rate = float("inf")
    load_rate_low = float("inf")


async def _held_run_drawn(pilot: Pilot) -> None:
    """Wait until every event of the held replay is applied and drawn."""
    app = pilot.app
    source = app.source
    assert isinstance(app, FlockApp) and isinstance(source, HeldReplay)

    async def applied() -> None:
        await source.loaded.wait()
        while app.events_seen < source.sent:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(applied(), 20)
    await pilot.pause()
    # A streaming pane's subtitle (elapsed, tokens, tok/s) is refreshed at most once a
    # second of wall-clock time: bring every one up to the event clock now, so the
    # picture does not depend on how fast the replay ran.
    for pane in app.grid.panes:
        pane.update_titles(app.state.clock, force=True)
    await pilot.pause()


@pytest.mark.parametrize("size", [LARGE], ids=["160x48"])
def test_news_desk_recorded(snap_compare, tui, size):
    """The README picture: examples/16_news_desk.py recorded with `flock-tui --record`
    (tests/fixtures/news_desk.jsonl), cut while all eight analysts stream at once."""
    app = ReadmeApp(HeldReplay(tui.fixture("news_desk_mid")), title=NEWS_DESK_TITLE)
    assert snap_compare(app, terminal_size=size, run_before=_held_run_drawn)


@pytest.mark.parametrize("size", [LARGE], ids=["160x48"])
def test_news_desk_finished(snap_compare, tui, size):
    """The whole recorded news desk: eight analyses published, then the editor's digest."""
    app = FlockApp(ReplaySource(tui.fixture("news_desk")), title=NEWS_DESK_TITLE)
    assert snap_compare(app, terminal_size=size, run_before=settled())
