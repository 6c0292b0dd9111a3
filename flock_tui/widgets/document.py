"""A scrollback of wrapped lines for the Line-API widgets, appended to incrementally.

A `Document` is a list of groups (one per run) of blocks (a field's text, a header, the
artifact table). `TextBlock` keeps its text already wrapped into visual lines; appending
re-wraps only the last visual line, so streaming costs O(new text), never O(pane).
Lines become Strips only when the widget asks for a visible line.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable

from rich.cells import cell_len, get_character_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

TAB = "    "


def wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap of one logical line into visual lines of at most `width` cells.

    A visual line may carry one trailing space past the width (cropped when drawn).
    """
    width = max(1, width)
    if text.isascii():
        n = len(text)
        if n <= width:
            return [text]
        out: list[str] = []
        pos = 0
        while n - pos > width:
            cut = text.rfind(" ", pos, pos + width + 1)
            cut = pos + width if cut <= pos else cut + 1
            out.append(text[pos:cut])
            pos = cut
        out.append(text[pos:])
        return out
    return _wrap_cells(text, width)


def _wrap_cells(text: str, width: int) -> list[str]:
    out: list[str] = []
    start = 0
    cells = 0
    space = -1  # index of the last space in the current line
    for index, char in enumerate(text):
        size = get_character_cell_size(char)
        if cells + size > width and char != " ":
            cut = space + 1 if space >= start else index
            out.append(text[start:cut])
            start = cut
            cells = cell_len(text[start : index + 1])
            space = -1
            continue
        if char == " ":
            space = index
        cells += size
    out.append(text[start:])
    return out


class Block:
    """A run of visual lines in a document.

    `changed_from` is the first visual line (within the block) changed since the last
    reflow, or None; `start` is where the block began at the last reflow.
    """

    changed_from: int | None = 0
    start: int = -1

    def line_count(self, width: int) -> int:
        raise NotImplementedError

    def strip(self, index: int, width: int, base: Style) -> Strip:
        raise NotImplementedError

    def text(self) -> str:
        raise NotImplementedError

    def offset_of(self, index: int) -> int:
        """A width-independent position for visual line `index` (to keep a scroll place)."""
        return index

    def index_of(self, offset: int) -> int:
        """The visual line holding position `offset` at the current width."""
        return offset


class TextBlock(Block):
    """Plain text in one style, wrapped at the document width, growing at its end."""

    def __init__(self, text: str = "", style: Style | None = None, prefix: str = "") -> None:
        self.changed_from: int | None = 0
        self.start = -1
        self.style = style or Style()
        self.prefix = prefix
        self._visual: list[str] = [""]
        self._starts = bytearray(b"\x01")  # 1 where a visual line starts a logical line
        self._width = 80
        if text:
            self.append(text)

    # -- content
    @property
    def lines(self) -> list[str]:
        """The logical lines (as appended, without wrapping)."""
        out: list[str] = []
        pieces: list[str] = []
        for line, start in zip(self._visual, self._starts, strict=True):
            if start and pieces:
                out.append("".join(pieces))
                pieces = []
            pieces.append(line)
        out.append("".join(pieces))
        return out

    def text(self) -> str:
        return "\n".join(self.lines)

    def visual_lines(self) -> list[str]:
        return list(self._visual)

    def append(self, text: str) -> None:
        if not text:
            return
        if "\t" in text:
            text = text.replace("\t", TAB)
        width = self._width
        pieces = text.split("\n")
        visual = self._visual
        starts = self._starts
        # Continue the last logical line: re-wrap only its last visual line.
        changed = len(visual) - 1
        if self.changed_from is None or changed < self.changed_from:
            self.changed_from = changed
        tail = visual.pop() + pieces[0]
        first_start = starts.pop()
        wrapped = wrap(tail, width) if len(tail) > width or not tail.isascii() else [tail]
        visual.extend(wrapped)
        starts.append(first_start)
        starts.extend(b"\x00" * (len(wrapped) - 1))
        for piece in pieces[1:]:
            wrapped = wrap(piece, width) if len(piece) > width or not piece.isascii() else [piece]
            visual.extend(wrapped)
            starts.append(1)
            starts.extend(b"\x00" * (len(wrapped) - 1))

    def set_text(self, text: str) -> None:
        self.changed_from = 0
        self._visual = [""]
        self._starts = bytearray(b"\x01")
        self.append(text)

    def offset_of(self, index: int) -> int:
        """Characters (newlines included) before visual line `index`."""
        visual, starts = self._visual, self._starts
        index = max(0, min(index, len(visual) - 1))
        return sum(len(visual[i]) for i in range(index)) + sum(starts[1 : index + 1])

    def index_of(self, offset: int) -> int:
        position = 0
        for index, (line, start) in enumerate(zip(self._visual, self._starts, strict=True)):
            if index and start:
                position += 1  # the newline before a logical line
            if position + len(line) > offset:
                return index
            position += len(line)
        return len(self._visual) - 1

    def trim_head(self, count: int) -> int:
        """Drop up to `count` visual lines from the top (keeping at least one)."""
        count = min(count, len(self._visual) - 1)
        if count > 0:
            self.changed_from = 0
            del self._visual[:count]
            del self._starts[:count]
            self._starts[0] = 1
        return max(0, count)

    # -- layout
    def _rewrap(self, width: int) -> None:
        logical = self.lines
        self.changed_from = 0
        self._width = width
        self._visual = []
        self._starts = bytearray()
        for line in logical:
            wrapped = wrap(line, width)
            self._visual.extend(wrapped)
            self._starts.append(1)
            self._starts.extend(b"\x00" * (len(wrapped) - 1))

    def line_count(self, width: int) -> int:
        width = max(1, width - len(self.prefix))
        if width != self._width:
            self._rewrap(width)
        return len(self._visual)

    def strip(self, index: int, width: int, base: Style) -> Strip:
        line = self._visual[index]
        if self.prefix:
            prefix = self.prefix if self._starts[index] else " " * len(self.prefix)
            line = prefix + line
        if line.isascii():
            return Strip([Segment(line[:width].ljust(width), base + self.style)], width)
        return Strip([Segment(line, base + self.style)]).crop_extend(0, width, base)


class RenderedBlock(Block):
    """Lines produced by a render function (e.g. a Rich table), cached per width."""

    def __init__(self, render: Callable[[int], list[Strip]], plain: str = "") -> None:
        self.changed_from: int | None = 0
        self.start = -1
        self._render = render
        self._plain = plain
        self._width = -1
        self._strips: list[Strip] = []

    def text(self) -> str:
        return self._plain

    def line_count(self, width: int) -> int:
        if width != self._width:
            self._strips = self._render(width)
            self._width = width
            self.changed_from = 0
        return len(self._strips)

    def strip(self, index: int, width: int, base: Style) -> Strip:
        # The render has no background of its own: put the view's style under it.
        return self._strips[index].apply_style(base).crop_extend(0, width, base)


class Group:
    """The blocks of one run, kept together."""

    __slots__ = ("key", "blocks")

    def __init__(self, key: str) -> None:
        self.key = key
        self.blocks: list[Block] = []

    def add(self, block: Block) -> Block:
        self.blocks.append(block)
        return block


class Document:
    """Groups of blocks, mapped to visual line numbers at one width."""

    def __init__(self, max_lines: int = 20_000) -> None:
        self.groups: list[Group] = []
        self._by_key: dict[str, Group] = {}
        self.max_lines = max_lines
        self.trimmed = 0
        self._starts: list[int] = []
        self._blocks: list[Block] = []
        self.height = 0
        self.dirty_from: int | None = 0
        """First visual line that changed or moved at the last reflow (None: none)."""

    def group(self, key: str) -> Group:
        group = self._by_key.get(key)
        if group is None:
            group = Group(key)
            self.groups.append(group)
            self._by_key[key] = group
        return group

    def has_group(self, key: str) -> bool:
        return key in self._by_key

    def reflow(self, width: int) -> int:
        """Recount lines at `width` (cheap unless the width changed); returns the height.

        Also sets `dirty_from`, the first line whose content changed or moved.
        """
        starts: list[int] = []
        blocks: list[Block] = []
        total = 0
        dirty: int | None = None
        for group in self.groups:
            for block in group.blocks:
                count = block.line_count(width)
                if dirty is None:
                    if block.start != total:
                        dirty = total
                    elif block.changed_from is not None:
                        dirty = total + block.changed_from
                block.start = total
                block.changed_from = None
                if count:
                    starts.append(total)
                    blocks.append(block)
                    total += count
        if total > self.max_lines:
            self._trim(total - self.max_lines, width)
            self.reflow(width)
            self.dirty_from = 0
            return self.height
        if dirty is None and total != self.height:
            dirty = min(total, self.height)
        self._starts, self._blocks, self.height = starts, blocks, total
        self.dirty_from = dirty
        return total

    def _trim(self, excess: int, width: int) -> None:
        """Forget the oldest lines: whole blocks first, then the head of a text block."""
        while excess > 0 and self.groups:
            group = self.groups[0]
            if len(self.groups) == 1 and len(group.blocks) <= 1:
                block = group.blocks[0] if group.blocks else None
                if isinstance(block, TextBlock):
                    dropped = block.trim_head(excess)
                    self.trimmed += dropped
                    excess -= dropped
                break
            if not group.blocks:
                self.groups.pop(0)
                self._by_key.pop(group.key, None)
                continue
            block = group.blocks[0]
            count = block.line_count(width)
            if count <= excess or not isinstance(block, TextBlock):
                group.blocks.pop(0)
                self.trimmed += count
                excess -= count
            else:
                dropped = block.trim_head(excess)
                self.trimmed += dropped
                excess -= dropped

    def anchor(self, y: int) -> tuple[Block, int] | None:
        """A width-independent place for line `y` (as laid out at the last reflow)."""
        if not self._blocks or y < 0:
            return None
        index = bisect_right(self._starts, y) - 1
        block = self._blocks[index]
        return block, block.offset_of(y - self._starts[index])

    def locate(self, anchor: tuple[Block, int] | None) -> int | None:
        """The line of `anchor` at the current layout (None if its block is gone)."""
        if anchor is None:
            return None
        block, offset = anchor
        for start, candidate in zip(self._starts, self._blocks, strict=True):
            if candidate is block:
                return start + block.index_of(offset)
        return None

    def strip(self, y: int, width: int, base: Style) -> Strip:
        if y < 0 or y >= self.height:
            return Strip.blank(width, base)
        index = bisect_right(self._starts, y) - 1
        return self._blocks[index].strip(y - self._starts[index], width, base)

    def plain_lines(self) -> list[str]:
        """Every visual line as plain text (for tests and copying)."""
        out: list[str] = []
        for block in (b for group in self.groups for b in group.blocks):
            if isinstance(block, TextBlock):
                out.extend(block.prefix + line for line in block.visual_lines())
            else:
                out.extend(block.text().split("\n") if block.text() else [])
        return out
