"""Recording a run: every envelope as one JSON line, the format `flock-tui replay` reads."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import IO

from engine.events import Envelope, encode


class RecordError(OSError):
    """The record file cannot be opened for writing."""


class Recorder:
    """A TeeSource callback writing each Envelope to a JSON-lines file.

    Lines are flushed as they are written, so a crash of flock-tui or of the child
    loses nothing that was already shown.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._file: IO[str] | None = self.path.open("w", encoding="utf-8", newline="\n")
        except OSError as exc:
            raise RecordError(
                exc.errno, f"cannot write record file {self.path}: {exc.strerror or exc}"
            ) from None
        self.written = 0

    def __call__(self, envelope: Envelope) -> None:
        if self._file is None:
            raise RuntimeError(f"record file {self.path} is closed")
        self._file.write(encode(envelope) + "\n")
        self._file.flush()
        self.written += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
