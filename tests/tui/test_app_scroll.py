"""Following panes: exact tail line by line in an ordinary run, jumps only under load."""

from __future__ import annotations

import asyncio
import time

from flock_tui.app import FlockApp
from flock_tui.widgets.grid import JUMP_SCROLL_PANES


class AlwaysLoadedApp(FlockApp):
    """Under load from the first batch on (any rate counts, and it never drops)."""

    load_rate = 0.0
    load_rate_low = -1.0


class NeverLoadedApp(FlockApp):
    load_rate = float("inf")
    load_rate_low = float("inf")


def row_text(pane, y: int) -> str:
    """View row `y` as drawn, without the scrollbar column."""
    return pane.render_line(y).text[: pane.text_width].strip()


async def test_a_following_pane_in_a_crowded_grid_keeps_the_last_line_at_the_bottom(tui, events):
    """Eight agents, tokens arriving slowly: no jump slack, the newest line on the last row."""
    names = [f"a{i}" for i in range(8)]
    source = tui.ListSource([events.activate(name, "r") for name in names])
    app = FlockApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await tui.wait_for_events(app, len(names))
        await pilot.pause()
        pane = app.panes["a0"]
        assert len(app.grid.visible_panes()) >= JUMP_SCROLL_PANES
        for i in range(40):
            source.push(events.token("a0", "r", "text", f"{'' if i == 0 else chr(10)}line {i}"))
            await tui.wait_for_events(app, len(names) + 1 + i)
            await pilot.pause()
            assert not app.under_load and not pane.jump_scroll and pane.jump_lines() == 0
            assert pane.top == pane.max_top
            last_row = min(pane.view_height, pane.document.height) - 1  # the bottom, once full
            assert row_text(pane, last_row) == f"line {i}"
            await asyncio.sleep(0.02)  # slowly: an ordinary run, far below `load_rate`
        assert pane.max_top > 0, "the pane must have scrolled for this test to mean anything"


async def test_under_load_a_crowded_grid_scrolls_in_jumps_and_settles_on_the_tail(tui, events):
    names = [f"a{i}" for i in range(6)]
    source = tui.ListSource([events.activate(name, "r") for name in names])
    app = AlwaysLoadedApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await tui.wait_for_events(app, 6)
        await pilot.pause()
        pane = app.panes["a0"]
        assert app.under_load and pane.jump_scroll and pane.jump_lines() > 1
        tops = set()
        for i in range(60):
            source.push(events.token("a0", "r", "text", f"line {i}\n"))
            await tui.wait_for_events(app, 7 + i)
            tops.add(pane.top)
            assert pane.max_top <= pane.top <= pane.max_top + pane.jump_lines() or pane.max_top == 0
        scrolled = len(pane.plain_lines()) - pane.view_height
        assert 0 < len(tops) - 1 < scrolled, "fewer scroll steps than new lines"
        source.end(0)
        await tui.wait_until_ended(app)
        await pilot.pause()
        assert pane.top == pane.max_top


async def test_few_panes_never_jump_even_under_load(tui, events):
    source = tui.ListSource([events.activate(name, "r") for name in ("a", "b")])
    app = AlwaysLoadedApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await tui.wait_for_events(app, 2)
        for i in range(50):
            source.push(events.token("a", "r", "text", f"\nline {i}"))
        await tui.wait_for_events(app, 52)
        await pilot.pause()
        pane = app.panes["a"]
        assert app.under_load and not pane.jump_scroll
        assert pane.max_top > 0 and pane.top == pane.max_top


async def test_the_load_follows_the_event_rate_and_the_tail_snaps_back_when_it_drops(tui, events):
    names = [f"a{i}" for i in range(6)]
    source = tui.ListSource([events.activate(name, "r") for name in names])
    app = FlockApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await tui.wait_for_events(app, 6)
        await pilot.pause()
        pane = app.panes["a0"]
        assert not app.under_load
        now = time.monotonic()
        # A second with more events than `load_rate`: under load, crowded panes jump.
        app.note_applied(int(app.load_rate * app.load_window) + 1, now)
        assert app.under_load and pane.jump_scroll
        for i in range(60):
            source.push(events.token("a0", "r", "text", f"line {i}\n"))
        await tui.wait_for_events(app, 66)
        await pilot.pause()
        assert app.under_load
        # Between the two thresholds it stays under load (no flapping) ...
        later = now + app.load_window * 0.5
        app.note_applied(int(app.load_rate_low * app.load_window) + 1 - 61, later)
        assert app.event_rate(later) > app.load_rate_low and app.under_load
        # ... and once that second has passed, the rate is low: exact tail again.
        app.note_applied(1, later + app.load_window * 1.01)
        assert not app.under_load and not pane.jump_scroll
        assert pane.top == pane.max_top > 0
        await pilot.pause()
        assert row_text(pane, pane.view_height - 1) == ""  # the text ends with a newline
        assert row_text(pane, pane.view_height - 2) == "line 59"
