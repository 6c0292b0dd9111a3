"""PaneGrid: lays out 1..64 agent panes, in pages when they do not all fit."""

from __future__ import annotations

import math
from dataclasses import dataclass

from textual.containers import Container

from flock_tui.widgets.pane import AgentPane

MIN_PANE_WIDTH = 28
MIN_PANE_HEIGHT = 6
JUMP_SCROLL_PANES = 4
"""With this many panes on screen and the app under load (`PaneGrid.under_load`),
following panes scroll in jumps (fewer repaints); otherwise they scroll line by line."""


@dataclass(frozen=True, slots=True)
class GridLayout:
    columns: int
    rows: int
    per_page: int
    pages: int


def plan_grid(count: int, width: int, height: int) -> GridLayout:
    """Columns and rows for `count` panes in a width x height area (cells).

    If they all fit with panes of at least MIN_PANE_WIDTH x MIN_PANE_HEIGHT, pick the
    arrangement whose panes are the most readable (the smaller of width/3 and height,
    then the fewest empty cells); otherwise fill pages of the largest grid that fits.
    """
    count = max(1, count)
    max_cols = max(1, width // MIN_PANE_WIDTH)
    max_rows = max(1, height // MIN_PANE_HEIGHT)
    capacity = max_cols * max_rows
    if count > capacity:
        return GridLayout(max_cols, max_rows, capacity, math.ceil(count / capacity))
    best: tuple[float, int, int, int] | None = None
    for cols in range(1, min(count, max_cols) + 1):
        rows = math.ceil(count / cols)
        if rows > max_rows:
            continue
        score = min(width / cols / 3, height / rows)
        empty = cols * rows - count
        key = (score, -empty, cols, rows)
        if best is None or key[:2] > best[:2]:
            best = key
    assert best is not None
    _, _, cols, rows = best
    return GridLayout(cols, rows, count, 1)


class PaneGrid(Container):
    """The panes, in a CSS grid sized from the terminal and the number of agents."""

    DEFAULT_CSS = """
    PaneGrid {
        layout: grid;
        grid-gutter: 0;
        height: 1fr;
        width: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.panes: list[AgentPane] = []
        self.page = 0
        self.layout_plan = GridLayout(1, 1, 1, 1)
        self.zoomed: AgentPane | None = None
        self.under_load = False
        """Set by the app while the event rate is high (see FlockApp.load_rate)."""

    def add_pane(self, pane: AgentPane) -> None:
        self.panes.append(pane)
        pane.display = False
        self.mount(pane)
        self.relayout()

    def page_of(self, pane: AgentPane) -> int:
        return self.panes.index(pane) // max(1, self.layout_plan.per_page)

    def visible_panes(self) -> list[AgentPane]:
        if self.zoomed is not None:
            return [self.zoomed]
        per_page = self.layout_plan.per_page
        start = self.page * per_page
        return self.panes[start : start + per_page]

    def show_page(self, page: int) -> None:
        page = max(0, min(page, self.layout_plan.pages - 1))
        if page != self.page:
            self.page = page
            self.relayout()

    def on_resize(self) -> None:
        self.relayout()

    def set_under_load(self, under_load: bool) -> None:
        """Switch jump scrolling on (a crowded screen under load) or off (exact tail)."""
        if under_load == self.under_load:
            return
        self.under_load = under_load
        self._update_jump_scroll(self.visible_panes())
        if not under_load:
            for pane in self.panes:
                if pane.display:
                    pane.snap_to_tail()  # drop the jump slack under the newest line

    def _update_jump_scroll(self, shown_panes: list[AgentPane]) -> None:
        crowded = len(shown_panes) >= JUMP_SCROLL_PANES
        for pane in self.panes:
            pane.jump_scroll = crowded and self.under_load

    def relayout(self) -> None:
        size = self.size
        width = size.width or self.app.size.width
        height = size.height or max(1, self.app.size.height - 3)
        plan = plan_grid(len(self.panes), width, height)
        self.layout_plan = plan
        self.page = max(0, min(self.page, plan.pages - 1))
        if self.zoomed is not None:
            self.styles.grid_size_columns = 1
            self.styles.grid_size_rows = 1
        else:
            columns = plan.columns
            rows = plan.rows if plan.pages > 1 else math.ceil(len(self.panes) / plan.columns)
            on_page = min(plan.per_page, len(self.panes) - self.page * plan.per_page)
            if plan.pages > 1 and on_page < plan.per_page:
                # the last page's few panes share the whole area, no empty rows below
                last = plan_grid(on_page, width, height)
                columns, rows = last.columns, math.ceil(on_page / last.columns)
            self.styles.grid_size_columns = columns
            self.styles.grid_size_rows = max(1, rows)
        shown_panes = self.visible_panes()
        visible = set(map(id, shown_panes))
        self._update_jump_scroll(shown_panes)
        for pane in self.panes:
            shown = id(pane) in visible
            if shown and not pane.display:
                # It may come back at the size it had: no Resize, so lay it out explicitly.
                pane.call_after_refresh(pane.relayout_view)
            pane.display = shown
