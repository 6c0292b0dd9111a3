"""Splitting a byte stream into lines without trusting its line lengths.

A child may print one 100 MB line, or a million short ones. `LineSplitter` keeps at
most `max_line` bytes of any line and counts what it dropped, so memory stays bounded
and the caller can show a visible truncation marker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

CHUNK_SIZE = 256 * 1024


@dataclass(frozen=True, slots=True)
class Line:
    """One complete line (without its newline) and how many bytes were cut from it."""

    data: bytes
    dropped: int = 0


class LineSplitter:
    """Feed chunks, get complete lines; a line longer than `max_line` is cut."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._partial = bytearray()
        self._dropped = 0

    def _append(self, piece: bytes) -> None:
        room = self.max_line - len(self._partial)
        if len(piece) <= room:
            self._partial += piece
        else:
            if room > 0:
                self._partial += piece[:room]
            self._dropped += len(piece) - max(room, 0)

    def _take(self) -> Line:
        line = Line(bytes(self._partial), self._dropped)
        self._partial.clear()
        self._dropped = 0
        return line

    def feed(self, chunk: bytes) -> list[Line]:
        parts = chunk.split(b"\n")
        if len(parts) == 1:
            self._append(chunk)
            return []
        self._append(parts[0])
        lines = [self._take()]
        limit = self.max_line
        for part in parts[1:-1]:
            if len(part) <= limit:
                lines.append(Line(part))
            else:
                lines.append(Line(part[:limit], len(part) - limit))
        self._append(parts[-1])
        return lines

    def flush(self) -> list[Line]:
        """The last line if the stream ended without a newline."""
        if self._partial or self._dropped:
            return [self._take()]
        return []

    @property
    def pending(self) -> int:
        """Bytes held for an unfinished line."""
        return len(self._partial)


async def read_lines(
    reader: asyncio.StreamReader,
    on_lines: Callable[[list[Line]], Awaitable[None]],
    max_line: int,
) -> None:
    """Read `reader` to EOF in big chunks, handing each chunk's complete lines to `on_lines`."""
    splitter = LineSplitter(max_line)
    while chunk := await reader.read(CHUNK_SIZE):
        lines = splitter.feed(chunk)
        if lines:
            await on_lines(lines)
    tail = splitter.flush()
    if tail:
        await on_lines(tail)
