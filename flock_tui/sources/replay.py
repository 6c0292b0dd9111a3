"""ReplaySource: re-render a recorded run (a JSON-lines file of event envelopes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.events import Envelope, ProtocolError, RunFinished, decode, parse_timestamp
from flock_tui.sources.base import SourceEnded, SourceItem, SourceNotice

MAX_GAP = 5.0
"""Longest pause between two events at speed 1 (seconds); idle stretches are shortened."""


class ReplaySource:
    """Reads a record file; `speed` 0 = as fast as possible, 1 = real time by timestamps."""

    live = False

    def __init__(self, path: Path, speed: float = 0.0) -> None:
        self.path = Path(path)
        if speed < 0:
            raise ValueError(f"speed must be >= 0, not {speed}")
        self.speed = speed
        try:
            with self.path.open("rb") as handle:
                handle.read(1)
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            raise OSError(f"cannot read record file {self.path}: {reason}") from None
        if self.path.is_dir():
            raise OSError(f"cannot read record file {self.path}: is a directory")
        self.description = f"replay {self.path.name}"
        self._stopped = asyncio.Event()
        self.bad_lines = 0

    async def run(self, queue: asyncio.Queue[SourceItem]) -> None:
        exit_code: int | None = None
        reason = "replay finished"
        previous = None
        try:
            with self.path.open("rb") as handle:
                for number, raw in enumerate(handle, start=1):
                    if self._stopped.is_set():
                        reason = "replay stopped"
                        break
                    if not raw.strip():
                        continue
                    try:
                        envelope = decode(raw)
                    except ProtocolError as exc:
                        self.bad_lines += 1
                        queue.put_nowait(
                            SourceNotice("warning", f"{self.path.name} line {number}: {exc}")
                        )
                        continue
                    if self.speed > 0:
                        previous = await self._pace(previous, envelope)
                        if self._stopped.is_set():
                            reason = "replay stopped"
                            break
                    elif number % 500 == 0:
                        await asyncio.sleep(0)  # let the app draw while a long file loads
                    if envelope.event_type == "run_finished":
                        payload = envelope.payload()
                        if isinstance(payload, RunFinished):
                            exit_code = payload.exit_code
                            reason = payload.reason or reason
                    queue.put_nowait(envelope)
        except OSError as exc:
            queue.put_nowait(SourceNotice("error", f"reading {self.path.name} failed: {exc}"))
            reason = f"read error: {exc}"
        queue.put_nowait(SourceEnded(exit_code=exit_code, reason=reason))

    async def _pace(self, previous: float | None, envelope: Envelope) -> float | None:
        try:
            moment = parse_timestamp(envelope.timestamp).timestamp()
        except ValueError:
            return previous
        if previous is not None and moment > previous:
            delay = min(MAX_GAP, moment - previous) / self.speed
            try:
                await asyncio.wait_for(self._stopped.wait(), delay)
            except TimeoutError:
                pass
        return moment if previous is None or moment > previous else previous

    async def stop(self) -> None:
        self._stopped.set()
