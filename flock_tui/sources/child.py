"""Run a Flock script as a child process and turn what it says into source items.

The child is the same interpreter running SCRIPT in the same working directory, in its
own process group, with an inherited pipe named by ``FLOCK_TUI_EVENT_FD`` on which the
engine writes JSON-lines envelopes. Its stdout and stderr are captured separately and
become ``console_output`` events, so user ``print()`` calls never touch the screen.

Every envelope leaving this source gets a fresh, strictly increasing ``seq`` (the
child's session id, timestamp, correlation id and data are kept), so console lines and
engine events share one order. What goes wrong on the way (a garbled line on the event
pipe, a script that cannot start) becomes a ``notice`` event in that same order, so a
record of the run keeps its warnings. The run ends with a ``run_finished`` event
carrying the exit code and a ``SourceEnded``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

from engine.events import (
    ConsoleOutput,
    Envelope,
    ProtocolError,
    RunFinished,
    RunNotice,
    decode,
    utc_timestamp,
)
from flock_tui.sources.base import SourceEnded, SourceItem
from flock_tui.sources.lines import CHUNK_SIZE, Line, read_lines
from flock_tui.sources.process import GRACE_SECONDS, ProcessGroup, describe_exit

MAX_EVENT_LINE = 64 * 1024 * 1024  # one event line; a 1 MB token fits many times over
MAX_CONSOLE_LINE = 16 * 1024  # one console line; longer lines are cut with a marker
DRAIN_SECONDS = 5.0  # after exit, how long grandchildren may keep our pipes open
_TRACEBACK = "Traceback (most recent call last):"


class ChildProcessSource:
    """An EventSource running ``python SCRIPT ARGS...`` as a child process."""

    drain_seconds = DRAIN_SECONDS

    def __init__(
        self,
        script: Path,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        pass_fds: tuple[int, ...] = (),
        grace_seconds: float = GRACE_SECONDS,
        on_started: Callable[[], object] | None = None,
    ) -> None:
        self.script = Path(script)
        self.args = list(args)
        self.extra_env = dict(env or {})
        self.pass_fds = tuple(pass_fds)
        self._group = ProcessGroup(grace_seconds)
        self.on_started = on_started  # called once the child runs (e.g. to close fds it inherited)
        self.description = " ".join([str(script), *self.args])
        self.garbled_lines = 0
        self.console_lines = 0
        self.events = 0
        self._seq = 0
        self._session_id: str | None = None  # the child's, once its first event arrives
        self._own_session_id = uuid.uuid4().hex  # for console lines before that
        self._child_totals: dict[str, Any] = {}
        self._saw_traceback = False
        self._stop_requested = False
        self._emit_lock = asyncio.Lock()
        self._queue: asyncio.Queue[SourceItem] | None = None

    @property
    def process(self) -> asyncio.subprocess.Process | None:
        return self._group.process

    # -- emitting ---------------------------------------------------------------------

    def _stamp(self, envelope: Envelope) -> Envelope:
        self._seq += 1
        return envelope.model_copy(update={"seq": self._seq})

    def _own(self, payload: ConsoleOutput | RunNotice | RunFinished) -> Envelope:
        self._seq += 1
        return Envelope(
            seq=self._seq,
            event_type=payload.event_type,
            timestamp=utc_timestamp(),
            session_id=self._session_id or self._own_session_id,
            data=payload.model_dump(mode="json"),
        )

    async def _notice(self, level: Literal["info", "warning", "error"], text: str) -> None:
        """A notice event, stamped in this source's seq order like console output."""
        payload = RunNotice(level=level, text=text)
        await self._put(lambda: self._own(payload))

    async def _put(self, item: SourceItem | Callable[[], SourceItem]) -> None:
        """Put one item; envelopes are stamped under the lock so seq order = queue order."""
        assert self._queue is not None
        async with self._emit_lock:
            await self._queue.put(item() if callable(item) else item)

    # -- readers ----------------------------------------------------------------------

    async def _on_event_lines(self, lines: list[Line]) -> None:
        for line in lines:
            if not line.data.strip() and not line.dropped:
                continue
            if line.dropped:
                await self._garbled(f"line longer than {MAX_EVENT_LINE} bytes")
                continue
            try:
                envelope = decode(line.data)
            except ProtocolError as exc:
                await self._garbled(str(exc))
                continue
            if self._session_id is None:
                self._session_id = envelope.session_id
            if envelope.event_type == "run_finished":
                # The engine's own end-of-run totals; the single run_finished comes last.
                self._child_totals.update(envelope.data.get("totals") or {})
                continue
            self.events += 1
            await self._put(lambda envelope=envelope: self._stamp(envelope))

    async def _garbled(self, problem: str) -> None:
        self.garbled_lines += 1
        n = self.garbled_lines
        if n <= 10 or n % 1000 == 0:
            await self._notice(
                "warning", f"event pipe: skipped a garbled line ({problem}); {n} skipped so far"
            )

    def _console_handler(
        self, stream: Literal["stdout", "stderr"]
    ) -> Callable[[list[Line]], Awaitable[None]]:
        async def handle(lines: list[Line]) -> None:
            texts = []
            for line in lines:
                text = line.data.decode("utf-8", errors="replace").removesuffix("\r")
                if line.dropped:
                    text += f"…[truncated {line.dropped} bytes]"
                if stream == "stderr" and text.startswith(_TRACEBACK):
                    self._saw_traceback = True
                texts.append(text)
            self.console_lines += len(texts)
            # One event per chunk read: a flood of prints costs a few events, not one each.
            payload = ConsoleOutput(stream=stream, text="\n".join(texts))
            await self._put(lambda: self._own(payload))

        return handle

    # -- lifecycle --------------------------------------------------------------------

    def _child_env(self, event_fd: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        env["FLOCK_TUI_EVENT_FD"] = str(event_fd)
        env["FLOCK_TUI_CHILD"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        return env

    async def run(self, queue: asyncio.Queue[SourceItem]) -> None:
        self._queue = queue
        if self._stop_requested:
            await self._put(SourceEnded(None, "stopped before the script started"))
            return
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        try:
            proc = await self._group.start(
                [sys.executable, str(self.script), *self.args],
                env=self._child_env(write_fd),
                pass_fds=(write_fd, *self.pass_fds),
                limit=CHUNK_SIZE,
            )
        except OSError as exc:
            os.close(read_fd)
            await self._notice("error", f"could not start {self.script}: {exc}")
            await self._put(SourceEnded(None, f"failed to start: {exc.strerror or exc}"))
            return
        finally:
            os.close(write_fd)
        if self.on_started is not None:
            self.on_started()
        assert proc.stdout is not None and proc.stderr is not None
        event_reader = asyncio.StreamReader(limit=CHUNK_SIZE, loop=loop)
        pipe = os.fdopen(read_fd, "rb", buffering=0)
        pipe_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(event_reader, loop=loop), pipe
        )
        readers = [
            asyncio.create_task(read_lines(event_reader, self._on_event_lines, MAX_EVENT_LINE)),
            asyncio.create_task(
                read_lines(proc.stdout, self._console_handler("stdout"), MAX_CONSOLE_LINE)
            ),
            asyncio.create_task(
                read_lines(proc.stderr, self._console_handler("stderr"), MAX_CONSOLE_LINE)
            ),
        ]
        try:
            returncode = await self._group.wait()
            _, pending = await asyncio.wait(readers, timeout=self.drain_seconds)
            if pending:
                # Left-over processes of the script's group still hold our pipes open.
                self._group.signal(signal.SIGTERM)
            for task in pending:
                task.cancel()
            for task in readers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._group.reap()  # what the script left behind in its process group
        except asyncio.CancelledError:
            # The consumer went away (the app quit or crashed): never leave a child behind.
            for task in readers:
                task.cancel()
            await asyncio.shield(self.stop())
            raise
        finally:
            pipe_transport.close()
            self._group.close()  # stdout/stderr: a grandchild may still hold them open
        await self._finish(returncode)

    async def _finish(self, returncode: int) -> None:
        code, reason = describe_exit(
            returncode, crashed=self._saw_traceback, stopped=self._stop_requested
        )
        totals = dict(self._child_totals)
        totals.update(
            events=self.events, console_lines=self.console_lines, garbled_lines=self.garbled_lines
        )
        if self.garbled_lines:
            await self._notice(
                "warning", f"event pipe: {self.garbled_lines} garbled line(s) skipped in total"
            )
        payload = RunFinished(exit_code=code, reason=reason, totals=totals)
        await self._put(lambda: self._own(payload))
        await self._put(SourceEnded(code, reason))

    async def stop(self) -> None:
        """SIGINT to the child's process group, SIGTERM after a grace period, then SIGKILL.

        Idempotent; calling it again while stopping (a second Ctrl+C) cuts the current
        grace period short and sends the next signal at once.
        """
        self._stop_requested = True
        await self._group.stop()

    def kill_now(self, grace_seconds: float = 1.0) -> None:
        """Synchronous last resort after the event loop is gone: SIGTERM, then SIGKILL."""
        self._group.kill_now(grace_seconds)
