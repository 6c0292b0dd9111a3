"""SVG snapshots of the app replaying recorded fixtures (deterministic: event time only).

Regenerate with `pytest tests/tui/test_snapshots.py --snapshot-update`, then look at the
SVGs in snapshots/test_snapshots/.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot

from flock_tui.app import FlockApp
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
