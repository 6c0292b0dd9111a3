"""LineView: a Line-API scroll view over a Document, with follow-tail."""

from __future__ import annotations

from textual.geometry import Size
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from flock_tui.widgets.document import Document


class LineView(ScrollView, can_focus=True):
    """Draws only the visible lines of its document; follows the tail unless scrolled up."""

    DEFAULT_CSS = """
    LineView {
        overflow-x: hidden;
        overflow-y: auto;
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

    # -- content
    def content_width(self) -> int:
        return max(1, self.scrollable_content_region.width)

    def update_layout(self) -> None:
        """Re-count lines after the document changed, then scroll to the tail if following.

        Call once per batch; the widget repaints in the next frame.
        """
        width = self.scrollable_content_region.width
        if width <= 0 or not self.display:
            self._laid_out_width = -1  # laid out when it is shown (on_resize)
            return
        height = self.document.reflow(width)
        self._laid_out_width = width
        if self.virtual_size.height != height or self.virtual_size.width != width:
            self.virtual_size = Size(width, height)
        if self.follow and height > self.scrollable_content_region.height:
            self.scroll_to_tail()
        self.refresh()

    def scroll_to_tail(self) -> None:
        """Jump to the newest line now (the layout is already up to date)."""
        self._following_scroll = True
        try:
            self.set_scroll(None, self.max_scroll_y)
        finally:
            self._following_scroll = False

    def on_resize(self) -> None:
        self.update_layout()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if not self._following_scroll:
            self.follow = new_value >= self.max_scroll_y - 0.5

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if width != self._laid_out_width:
            self.document.reflow(width)
            self._laid_out_width = width
        scroll_y = int(self.scroll_offset.y)
        return self.document.strip(scroll_y + y, width, self.rich_style)

    def plain_lines(self) -> list[str]:
        return self.document.plain_lines()
