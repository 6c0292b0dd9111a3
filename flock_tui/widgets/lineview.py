"""LineView: a Line-API scroll view over a Document, with follow-tail.

Only visible lines are ever turned into Strips, and each is cached until the document
reports that line changed or moved, so a frame in which one line of a pane grew redraws
one line, not the pane.
"""

from __future__ import annotations

from rich.style import Style
from textual.geometry import Size
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from flock_tui.widgets.document import Document


class LineView(ScrollView, can_focus=True):
    """Draws only the visible lines of its document; follows the tail unless scrolled up."""

    DEFAULT_CSS = """
    LineView {
        overflow-x: hidden;
        overflow-y: scroll;
    }
    """

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
        self._laid_out_width = -1
        self._following_scroll = False
        self._strips: dict[int, Strip] = {}
        self._base_style: Style | None = None

    # -- content
    def update_layout(self) -> bool:
        """Re-count lines after the document changed, then scroll to the tail if following.

        Call once per batch; only lines that changed are repainted. Returns True when the
        whole view is repainted (it scrolled or an earlier line moved).
        """
        width = self.scrollable_content_region.width
        if width <= 0 or not self.display:
            self._laid_out_width = -1  # laid out when it is shown (on_resize)
            return False
        document = self.document
        old_height = self.virtual_size.height
        if width != self._laid_out_width:
            self._strips.clear()
            document.dirty_from = 0
        height = document.reflow(width)
        self._laid_out_width = width
        dirty = document.dirty_from
        if dirty is not None and self._strips:
            if dirty == 0:
                self._strips.clear()
            else:
                for y in [y for y in self._strips if y >= dirty]:
                    del self._strips[y]
        if old_height != height or self.virtual_size.width != width:
            size = Size(width, height)
            if self.styles.overflow_y == "scroll":
                # The scrollbar is always there, so the content size cannot change the
                # layout: skip the screen-wide layout pass that `virtual_size = ` costs.
                self.set_reactive(Widget.virtual_size, size)
                self._scroll_update(size)
            else:
                self.virtual_size = size
        scroll_y = int(self.scroll_offset.y)
        if self.follow and height > self.scrollable_content_region.height:
            if self.max_scroll_y != scroll_y:
                self.scroll_to_tail()
                self.refresh()
                return True
        if dirty is None:
            return False
        view_height = self.scrollable_content_region.height
        if dirty < scroll_y:
            self.refresh()
            return True
        if dirty < scroll_y + view_height:
            self.refresh_lines(dirty - scroll_y, scroll_y + view_height - dirty)
        return False

    def scroll_to_tail(self) -> None:
        """Jump to the newest line now (the layout is already up to date)."""
        self._following_scroll = True
        try:
            self.set_scroll(None, self.max_scroll_y)
        finally:
            self._following_scroll = False

    def on_resize(self) -> None:
        self.relayout_view()

    def relayout_view(self) -> None:
        """Lay out and repaint everything (after a resize or when shown again)."""
        self._laid_out_width = -1
        self.update_layout()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base_style = None
        self._strips.clear()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if not self._following_scroll:
            self.follow = new_value >= self.max_scroll_y - 0.5

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if width != self._laid_out_width:
            self.document.reflow(width)
            self._laid_out_width = width
            self._strips.clear()
        line = int(self.scroll_offset.y) + y
        strip = self._strips.get(line)
        if strip is None:
            base = self._base_style
            if base is None:
                base = self._base_style = self.rich_style
            strip = self.document.strip(line, width, base)
            if len(self._strips) > 512:
                self._strips.clear()
            self._strips[line] = strip
        return strip

    def plain_lines(self) -> list[str]:
        return self.document.plain_lines()
