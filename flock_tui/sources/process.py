"""The script's process group: start it, signal it, stop it politely, kill it if need be."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence

GRACE_SECONDS = 3.0  # SIGINT -> SIGTERM -> SIGKILL


def describe_exit(returncode: int, *, crashed: bool, stopped: bool) -> tuple[int, str]:
    """(exit code as a shell reports it, human reason) for a child's return code.

    `crashed`: a traceback was seen on the child's stderr (only trusted with exit code 1).
    """
    if returncode < 0:
        signum = -returncode
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        code, reason = 128 + signum, f"killed by {name}"
    elif returncode == 0:
        code, reason = 0, "exited"
    elif crashed and returncode == 1:  # Python's exit code for an uncaught exception
        code, reason = returncode, "crashed"
    else:
        code, reason = returncode, f"exited with code {returncode}"
    if stopped:
        reason = f"stopped by user ({reason})"
    return code, reason


class _ExitAwareProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """Knows when the process has exited even while a grandchild keeps its pipes open
    (on Python 3.11, ``Process.wait()`` also waits for every pipe to close)."""

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)
        self.exited = asyncio.Event()

    def process_exited(self) -> None:
        super().process_exited()
        self.exited.set()


class ProcessGroup:
    """One child process, leader of its own process group (and session)."""

    def __init__(self, grace_seconds: float = GRACE_SECONDS) -> None:
        self.grace_seconds = grace_seconds
        self.process: asyncio.subprocess.Process | None = None
        self.exited = asyncio.Event()
        self._hurry = asyncio.Event()
        self._stop_task: asyncio.Future[None] | None = None

    async def start(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        pass_fds: tuple[int, ...],
        limit: int,
    ) -> asyncio.subprocess.Process:
        """Start `argv` with stdin from /dev/null and stdout/stderr as pipes."""
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.subprocess_exec(
            lambda: _ExitAwareProtocol(limit, loop),
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=pass_fds,
            start_new_session=True,
            env=env,
        )
        self.process = asyncio.subprocess.Process(transport, protocol, loop)
        self.exited = protocol.exited
        return self.process

    async def wait(self) -> int:
        """The return code, as soon as the process has exited (pipes may still be open)."""
        await self.exited.wait()
        assert self.process is not None and self.process.returncode is not None
        return self.process.returncode

    def signal(self, signum: int) -> None:
        """Send `signum` to the whole group; a group that is gone is no error."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    async def stop(self) -> None:
        """SIGINT to the group, SIGTERM after a grace period, then SIGKILL.

        Idempotent; calling it again while stopping (a second Ctrl+C) cuts the current
        grace period short and sends the next signal at once.
        """
        if self._stop_task is None:
            self._stop_task = asyncio.ensure_future(self._terminate())
        elif not self._stop_task.done():
            self._hurry.set()
        await asyncio.shield(self._stop_task)

    async def _terminate(self) -> None:
        proc = self.process
        if proc is None:
            return
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if proc.returncode is not None:
                return
            self.signal(signum)
            self._hurry.clear()
            waits = [asyncio.ensure_future(e.wait()) for e in (self.exited, self._hurry)]
            try:
                await asyncio.wait(waits, timeout=self.grace_seconds, return_when="FIRST_COMPLETED")
            finally:
                for waiter in waits:
                    waiter.cancel()

    def kill_now(self, grace_seconds: float = 1.0) -> None:
        """Synchronous last resort after the event loop is gone: SIGTERM, then SIGKILL."""
        proc = self.process
        if proc is None or proc.returncode is not None:
            return
        for signum in (signal.SIGTERM, signal.SIGKILL):
            self.signal(signum)
            deadline = time.monotonic() + grace_seconds
            while time.monotonic() < deadline:
                try:
                    pid, _ = os.waitpid(proc.pid, os.WNOHANG)
                except ChildProcessError:
                    return
                if pid:
                    return
                time.sleep(0.05)
