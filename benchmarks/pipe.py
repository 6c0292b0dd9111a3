"""Child-to-parent channel: event sources for the benchmarks and the pipe-throughput figure.

`make_source` gives the real `flock_tui.sources.child.ChildProcessSource` when it is
importable, else `PipeSource`, a minimal reader of the same wire (a pipe on
FLOCK_TUI_EVENT_FD, JSON lines decoded with engine.events.decode). Every figure records
which one it used.

`measure_pipe` runs the producer in flood mode and drains the source's queue without
drawing anything: events per second decoded.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import metrics
from engine.events import Envelope, ProtocolError, decode
from flock_tui.sources.base import SourceEnded, SourceItem, SourceNotice

PRODUCER = Path(__file__).resolve().parent / "producer.py"
EVENT_FD_ENV = "FLOCK_TUI_EVENT_FD"


class PipeSource:
    """A minimal EventSource: runs SCRIPT with a pipe on FLOCK_TUI_EVENT_FD, decodes lines."""

    def __init__(self, script: Path, args: list[str], *, env: dict[str, str] | None = None):
        self.script = script
        self.args = args
        self.env = env
        self.description = f"pipe: {script.name}"
        self._proc: asyncio.subprocess.Process | None = None

    async def run(self, queue: asyncio.Queue[SourceItem]) -> None:
        read_fd, write_fd = os.pipe()
        env = dict(os.environ if self.env is None else self.env)
        env[EVENT_FD_ENV] = str(write_fd)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(self.script),
                *self.args,
                pass_fds=(write_fd,),
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        finally:
            os.close(write_fd)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 24, loop=loop)
        pipe = os.fdopen(read_fd, "rb", buffering=0)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader, loop=loop), pipe
        )
        rest = b""
        try:
            while True:
                chunk = await reader.read(1 << 16)
                if not chunk:
                    break
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    try:
                        queue.put_nowait(decode(line))
                    except ProtocolError as exc:
                        queue.put_nowait(SourceNotice("warning", f"bad event line: {exc}"))
        finally:
            transport.close()
        code = await self._proc.wait()
        queue.put_nowait(SourceEnded(code, f"exited with code {code}"))

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()


def child_source_available() -> bool:
    try:
        from flock_tui.sources.child import ChildProcessSource  # noqa: F401
    except ImportError:
        return False
    return True


def make_source(args: list[str], *, prefer: str = "child") -> tuple[Any, str]:
    """(source, kind) for the producer with ARGS; kind is 'child' or 'pipe'."""
    if prefer == "child" and child_source_available():
        from flock_tui.sources.child import ChildProcessSource

        return ChildProcessSource(PRODUCER, args), "child"
    return PipeSource(PRODUCER, args), "pipe"


async def drain(source: Any, timeout: float) -> dict[str, Any]:
    """Run SOURCE into a queue drained without rendering; rate over the token events."""
    queue: asyncio.Queue[SourceItem] = asyncio.Queue()
    task = asyncio.create_task(source.run(queue))
    tokens = 0
    other = 0
    notices = 0
    first = last = None
    cpu_first = cpu_last = 0.0
    ended: SourceEnded | None = None
    deadline = time.monotonic() + timeout
    try:
        while ended is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("pipe benchmark timed out")
            item = await asyncio.wait_for(queue.get(), remaining)
            batch = [item]
            while not queue.empty():
                batch.append(queue.get_nowait())
            now = time.perf_counter()
            for entry in batch:
                if isinstance(entry, Envelope):
                    if entry.event_type == "streaming_output":
                        if first is None:
                            first = now
                            cpu_first = metrics.cpu_seconds()
                        tokens += 1
                        last = now
                    else:
                        other += 1
                elif isinstance(entry, SourceNotice):
                    notices += 1
                else:
                    ended = entry
            if last == now:
                cpu_last = metrics.cpu_seconds()
    finally:
        await source.stop()
        await asyncio.wait_for(task, 10)
    elapsed = (last - first) if first is not None and last is not None else 0.0
    return {
        "tokens": tokens,
        "other_events": other,
        "notices": notices,
        "elapsed_s": round(elapsed, 4),
        "events_per_s": round((tokens - 1) / elapsed, 1) if elapsed > 0 else None,
        "cpu_us_per_event": round((cpu_last - cpu_first) / max(1, tokens - 1) * 1e6, 2),
        "exit_code": ended.exit_code if ended else None,
    }


def measure_pipe(
    events: int, agents: int = 16, prefer: str = "child", timeout: float = 120.0
) -> dict[str, Any]:
    args = ["--mode", "flood", "--agents", str(agents), "--events", str(events)]
    source, kind = make_source(args, prefer=prefer)
    result = asyncio.run(drain(source, timeout))
    result["source"] = kind
    result["requested_events"] = events
    return result
