"""The app's layout, driven by Pilot: the grid planned from the terminal size, pages and
the indicator for panes out of view, resizing, a tiny terminal, the feed's width."""

from __future__ import annotations

import pytest

from flock_tui.app import FlockApp
from flock_tui.sources.replay import ReplaySource
from flock_tui.widgets import AgentStrip, plan_grid


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_64_agents_page_with_an_indicator_for_active_panes_out_of_view(tui, events, size):
    source = tui.ListSource([events.register(f"agent{i:02d}") for i in range(64)])
    app = FlockApp(source)
    async with app.run_test(size=size) as pilot:
        await tui.wait_for_events(app, 64)
        await pilot.pause()
        grid = app.grid
        plan = grid.layout_plan
        assert plan.pages > 1 and plan.per_page * plan.pages >= 64
        visible = grid.visible_panes()
        assert all(p.display for p in visible) and len(visible) == plan.per_page
        hidden = [p for p in app.panes.values() if not p.display]
        assert len(hidden) == 64 - plan.per_page
        strip = app.query_one(AgentStrip)
        assert strip.display
        # a hidden agent starts streaming: the strip names it
        target = hidden[-1].agent_name
        source.push(events.activate(target, "r"), events.token(target, "r", "f", "hi"))
        await tui.wait_for_events(app, 66)
        await pilot.pause()
        rendered = str(strip.render())
        assert f"active elsewhere: {target}" in rendered
        assert sum(1 for p in app.panes.values() if p.display) == plan.per_page


async def test_a_pane_streamed_to_while_on_another_page_is_current_when_shown(tui, events):
    source = tui.ListSource([events.register(f"agent{i:02d}") for i in range(20)])
    source.push(events.activate("agent00", "r"), events.token("agent00", "r", "f", "first\n"))
    app = FlockApp(source)
    async with app.run_test(size=(80, 24)) as pilot:
        await tui.wait_for_events(app, 22)
        await pilot.pause()
        pane = app.panes["agent00"]
        assert pane.display
        await pilot.press("}")
        await pilot.pause()
        assert not pane.display and app.grid.page == 1
        source.push(*[events.token("agent00", "r", "f", f"hidden {i}\n") for i in range(30)])
        await tui.wait_for_events(app, 52)
        await pilot.pause()
        await pilot.press("{")
        await pilot.pause()
        await pilot.pause()
        assert pane.display and pane.follow
        assert pane.document.height == len(pane.plain_lines())
        # following: the newest line is in view (a busy screen may leave jump slack below)
        assert pane.max_top > 0 and pane.max_top <= pane.top <= pane.max_top + pane.jump_lines()
        shown = [pane.render_line(y).text for y in range(pane.view_height)]
        assert any("hidden 29" in line for line in shown)


@pytest.mark.parametrize(
    ("count", "width", "height", "columns", "rows", "pages"),
    [
        (1, 156, 45, 1, 1, 1),
        (4, 116, 45, 2, 2, 1),
        (16, 116, 45, 4, 4, 1),
        (3, 116, 45, 2, 2, 1),
        (16, 80, 21, 2, 3, 3),
        (64, 156, 47, 5, 7, 2),
        (5, 20, 5, 1, 1, 5),
    ],
)
def test_plan_grid_fits_panes_to_the_terminal(count, width, height, columns, rows, pages):
    plan = plan_grid(count, width, height)
    assert (plan.columns, plan.rows, plan.pages) == (columns, rows, pages)
    assert plan.per_page * plan.pages >= count


async def test_resizing_the_terminal_re_lays_out_the_panes(tui):
    app = FlockApp(ReplaySource(tui.fixture("sixteen_agents")))
    async with app.run_test(size=(200, 60)) as pilot:
        await tui.wait_until_ended(app)
        await pilot.pause()
        assert app.grid.layout_plan.pages == 1
        assert not app.query_one(AgentStrip).display
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        assert app.grid.layout_plan.pages > 1
        visible = [p for p in app.panes.values() if p.display]
        assert len(visible) == app.grid.layout_plan.per_page
        assert all(p.follow and p.top == p.max_top for p in visible)


async def test_a_tiny_terminal_still_draws(tui):
    app = FlockApp(ReplaySource(tui.fixture("four_agents")))
    async with app.run_test(size=(30, 8)) as pilot:
        await tui.wait_until_ended(app)
        await pilot.pause()
        await pilot.press("tab", "z", "z", "f", "c")
        await pilot.pause()
        assert app.state.exit_code == 0


async def test_the_feed_follows_the_terminal_width_until_toggled(tui, events):
    app = FlockApp(tui.ListSource([events.register("w")]))
    async with app.run_test(size=(140, 30)) as pilot:
        await tui.wait_for_events(app, 1)
        assert app.feed_visible
        await pilot.resize_terminal(90, 30)
        await pilot.pause()
        assert not app.feed_visible
        await pilot.press("f")
        assert app.feed_visible
        await pilot.resize_terminal(70, 30)
        await pilot.pause()
        assert app.feed_visible  # the user asked for it
