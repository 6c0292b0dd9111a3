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


POLL_SECONDS = 0.05


def _member_states(pgid: int) -> list[str] | None:
    """The states of the processes in group `pgid` (from /proc), or None without /proc."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    states = []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        fields = stat[stat.rfind(b")") + 2 :].split()  # after "pid (comm) "
        if len(fields) >= 3 and fields[2] == str(pgid).encode():
            states.append(fields[0].decode())
    return states


def group_alive(pgid: int) -> bool:
    """Whether process group `pgid` still has a member that is not a zombie.

    A zombie cannot do anything and goes when its parent reaps it; counting it would
    keep a stop waiting where nothing is left to stop (and a non-reaping init in a
    container never reaps orphans).
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a member we may not signal: it exists
    states = _member_states(pgid)
    if states is None:
        return True
    return any(state not in ("Z", "X", "x") for state in states)


async def wait_group_gone(pgid: int, timeout: float, hurry: asyncio.Event | None = None) -> bool:
    """Wait up to `timeout` seconds (or until `hurry` is set) for the group to be gone."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while group_alive(pgid):
        remaining = deadline - loop.time()
        if remaining <= 0 or (hurry is not None and hurry.is_set()):
            return False
        await asyncio.sleep(min(POLL_SECONDS, remaining))
    return True


async def reap_group(pgid: int, grace_seconds: float = GRACE_SECONDS) -> None:
    """Stop what is left of a group whose leader (the script) has exited: SIGTERM, then
    SIGKILL after `grace_seconds`. Returns at once when nothing is left."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        if not group_alive(pgid):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)
        await wait_group_gone(pgid, grace_seconds)


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
        self._transport: asyncio.SubprocessTransport | None = None
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
        self._transport = transport
        self.process = asyncio.subprocess.Process(transport, protocol, loop)
        self.exited = protocol.exited
        return self.process

    def close(self) -> None:
        """Close the transport of the process and of its stdout/stderr pipes.

        Once the readers are done with them. A pipe that a grandchild (one that left the
        group with setsid) still holds open would otherwise stay registered with the
        event loop, and the transport's ``__del__`` would try to close it after the loop
        is closed ("Exception ignored ... Event loop is closed"). The returncode stays.
        """
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

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
        # Escalate while anything of the GROUP lives, not just the script: a grandchild
        # that ignores SIGINT must not outlive flock-tui because the script has exited.
        proc = self.process
        if proc is None:
            return
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if not group_alive(proc.pid):
                return
            self._hurry.clear()
            self.signal(signum)
            await wait_group_gone(proc.pid, self.grace_seconds, self._hurry)

    async def reap(self) -> None:
        """After the script has exited: stop what is left of its group (SIGTERM, then
        SIGKILL after the grace period). Returns at once when nothing is left; waits for
        a stop already under way instead of starting a second escalation."""
        proc = self.process
        if proc is None:
            return
        if self._stop_task is not None:
            await asyncio.shield(self._stop_task)
        await reap_group(proc.pid, self.grace_seconds)

    def kill_now(self, grace_seconds: float = 1.0) -> None:
        """Synchronous last resort after the event loop is gone: SIGTERM, then SIGKILL,
        to the whole group for as long as any of it lives."""
        proc = self.process
        if proc is None:
            return
        for signum in (signal.SIGTERM, signal.SIGKILL):
            self._reap_leader(proc.pid)
            if not group_alive(proc.pid):
                return
            self.signal(signum)
            deadline = time.monotonic() + grace_seconds
            while time.monotonic() < deadline:
                self._reap_leader(proc.pid)
                if not group_alive(proc.pid):
                    return
                time.sleep(POLL_SECONDS)

    @staticmethod
    def _reap_leader(pid: int) -> None:
        """Collect the script's exit status if nobody has (the event loop is gone)."""
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
