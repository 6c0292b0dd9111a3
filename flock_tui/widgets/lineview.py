"""LineView: a Line-API view over a Document that scrolls by itself, with follow-tail.

Why not a Textual ScrollView: in Textual 8 any scroll of any ScrollView makes the screen
reflow and repaint every widget; with 16 panes following their tails that is a full
screen repaint per frame. LineView keeps its own `top` line and draws its own scrollbar
column, so a pane that scrolls repaints only itself, and a frame in which one line grew
repaints one line. Only visible lines become Strips, cached until they change or move.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.reactive import var
from textual.strip import Strip
from textual.widget import Widget

from flock_tui.widgets.document import Document

BAR_THUMB = Style(color="grey50")


class LineView(Widget, can_focus=True):
    """Draws only the visible lines of its document; follows the tail unless scrolled up."""

    DEFAULT_CSS = """
    LineView {
        height: 1fr;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_lines(-1)", "Up", show=False),
        Binding("down", "scroll_lines(1)", "Down", show=False),
        Binding("pageup", "scroll_page(-1)", "Page up", show=False),
        Binding("pagedown", "scroll_page(1)", "Page down", show=False),
        Binding("home", "scroll_home", "Top", show=False),
        Binding("end", "scroll_tail", "Tail", show=False),
    ]

    follow: var[bool] = var(True)
    """Keep the newest line in view (paused while the user has scrolled up)."""

    def __init__(
        self,
        *,
        max_lines: int = 20_000,
        name: str | None = None,
        id: str | None = None,  # noqa: A002
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.document = Document(max_lines=max_lines)
        self.top = 0
        """The first document line in view."""
        self._laid_out_width = -1
        self._strips: dict[int, Strip] = {}
        self._base_style: Style | None = None
        self._bar: tuple[int, int] = (0, 0)

    # ---------------------------------------------------------------- geometry
    @property
    def text_width(self) -> int:
        return max(0, self.content_region.width - 1)  # the last column is the scrollbar

    @property
    def view_height(self) -> int:
        return self.content_region.height

    @property
    def max_top(self) -> int:
        return max(0, self.document.height - self.view_height)

    # ------------------------------------------------------------------ content
    def update_layout(self) -> bool:
        """Re-count lines after the document changed, then follow the tail if following.

        Call once per batch; only lines that changed are repainted. Returns True when the
        whole view is repainted (it scrolled or an earlier line moved).
        """
        width = self.text_width
        if width <= 0 or not self.display:
            return False  # laid out when it is shown again (on_resize)
        document = self.document
        old_height = document.height
        height = self._reflow(width)
        dirty = document.dirty_from
        if dirty is not None and self._strips:
            if dirty == 0:
                self._strips.clear()
            else:
                for key in [key for key in self._strips if key // 3 >= dirty]:
                    del self._strips[key]
        new_top = self._follow_top(height) if self.follow else min(self.top, self.max_top)
        if new_top != self.top:
            self.top = new_top
            self.refresh()
            return True
        if dirty is None or height == old_height == 0:
            return False
        view = self.view_height
        if dirty < self.top:
            self.refresh()
            return True
        # Repaint from the first changed line down to the last line that has (or had)
        # text: the empty rows below a pane that is not yet full stay as they are.
        end = min(self.top + view, max(height, old_height))
        if dirty < end:
            self.refresh_lines(dirty - self.top, end - dirty)
        return False

    def _reflow(self, width: int) -> int:
        """Lay the document out at `width`; a new width keeps the same text at the top."""
        document = self.document
        anchor = None
        if width != self._laid_out_width:
            self._strips.clear()
            if not self.follow and self._laid_out_width > 0:
                anchor = document.anchor(self.top)
        height = document.reflow(width)
        self._laid_out_width = width
        if anchor is not None:
            located = document.locate(anchor)
            if located is not None:
                self.top = max(0, min(located, self.max_top))
            document.dirty_from = 0
        return height

    def refresh_lines(self, y_start: int, line_count: int = 1) -> None:
        """Repaint `line_count` view lines from view line `y_start`."""
        self.refresh(Region(0, y_start, self.size.width, line_count))

    def jump_lines(self) -> int:
        """Blank lines to leave under the tail when following scrolls (0: scroll by line).

        Scrolling repaints the whole view, so a busy screen scrolls in jumps: the view
        then repaints once per `jump_lines()` new lines instead of once per line.
        """
        return 0

    def _follow_top(self, height: int) -> int:
        view = self.view_height
        max_top = max(0, height - view)
        jump = min(self.jump_lines(), view - 1)
        if jump <= 0 or height <= view:
            return max_top
        if max_top <= self.top <= max_top + jump:
            return self.top  # the tail is still in view, below it at most `jump` blanks
        return max_top + jump

    def snap_to_tail(self) -> None:
        """Put the newest line on the bottom row (no jump slack) if following."""
        if self.follow and self.top != self.max_top:
            self.top = self.max_top
            self.refresh()

    def _thumb(self, height: int) -> tuple[int, int]:
        view = self.view_height
        if height <= view or view <= 0:
            return (0, 0)
        size = max(1, view * view // height)
        span = max(1, height - view)
        start = min(view - size, min(self.top, span) * (view - size) // span)
        return (start, size)

    def on_resize(self) -> None:
        self.relayout_view()

    def relayout_view(self) -> None:
        """Lay out and repaint everything (after a resize or when shown again)."""
        self._strips.clear()
        self.document.dirty_from = 0
        self.update_layout()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base_style = None
        self._strips.clear()

    # ---------------------------------------------------------------- scrolling
    def scroll_to_line(self, top: int) -> None:
        """Put document line `top` at the top of the view (the user scrolled)."""
        top = max(0, min(top, self.max_top))
        self.follow = top >= self.max_top
        if top != self.top:
            self.top = top
            self.refresh()

    def scroll_to_tail(self) -> None:
        self.follow = True
        self.scroll_to_line(self.max_top)

    def action_scroll_lines(self, delta: int) -> None:
        self.scroll_to_line(self.top + delta)

    def action_scroll_page(self, direction: int) -> None:
        self.scroll_to_line(self.top + direction * max(1, self.view_height - 1))

    def action_scroll_home(self) -> None:
        self.scroll_to_line(0)

    def action_scroll_tail(self) -> None:
        self.scroll_to_tail()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.scroll_to_line(self.top + 3)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.scroll_to_line(self.top - 3)

    # ---------------------------------------------------------------- drawing
    def render_line(self, y: int) -> Strip:
        width = self.text_width
        if width != self._laid_out_width:
            self._reflow(width)
        base = self._base_style
        if base is None:
            base = self._base_style = self.rich_style
        if y == 0:  # the thumb moves with full repaints only (a scroll, a new layout)
            self._bar = self._thumb(self.document.height)
        start, size = self._bar
        bar = 0 if not size else 2 if start <= y < start + size else 1
        line = self.top + y
        key = line * 3 + bar
        strip = self._strips.get(key)
        if strip is None:
            text = self.document.strip(line, width, base)
            segment = Segment("▐", base + BAR_THUMB) if bar == 2 else Segment(" ", base)
            strip = Strip([*text, segment], width + 1)
            if len(self._strips) > 6 * self.view_height + 32:  # keep it about one view
                self._strips.clear()
            self._strips[key] = strip
        return strip

    def plain_lines(self) -> list[str]:
        return self.document.plain_lines()
