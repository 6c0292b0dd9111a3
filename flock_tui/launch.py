"""Running a parsed ``flock-tui`` command: the chain of sources, then the TUI or plain output.

    ChildProcessSource | ReplaySource | WebSocketSource
        -> TeeSource(recorder)               (or BridgedSource(recorder, bridge.publish))
        -> FlockApp (a terminal) | run_plain (anything else)

Whatever happens to the renderer, the child never outlives flock-tui, nor does anything
it started in its process group: after the app returns (normally, after a crash of the
app, or on SIGTERM/SIGHUP) a child that still runs is stopped (SIGINT, SIGTERM, SIGKILL
to the group), what an exited script left behind gets SIGTERM then SIGKILL, and a
synchronous kill is the last resort.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from flock_tui.record import Recorder
from flock_tui.sources.base import EventSource, SourceEnded
from flock_tui.sources.child import ChildProcessSource
from flock_tui.sources.process import describe_exit, reap_group
from flock_tui.sources.tee import EnvelopeCallback, TeeSource

SHUTDOWN_SECONDS = 15.0

Mode = Literal["script", "replay", "attach"]


@dataclass
class Invocation:
    """What the command line asked for."""

    mode: Mode
    target: str  # SCRIPT, RUN.jsonl or the ws:// URL
    args: list[str] = field(default_factory=list)
    record: Path | None = None
    exit_on_finish: bool = False
    web: bool = False
    host: str = "127.0.0.1"
    port: int = 8344
    token: str | None = None
    speed: float | None = None


class DashboardUnavailable(Exception):
    """--web asked for a dashboard that cannot be served (one line; exit code 2)."""


def bind_dashboard(host: str, port: int) -> list[socket.socket]:
    """Listening-ready sockets for HOST:PORT (every address HOST resolves to, as aiohttp
    would bind them), or DashboardUnavailable. Bound before the script starts, and then
    served by the bridge, so a taken port stops flock-tui before anything has run."""
    where = f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise DashboardUnavailable(
            f"cannot serve the dashboard on {where}: {_lower(exc.strerror or str(exc))}"
        ) from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:  # one free port for every address
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise DashboardUnavailable(
            f"cannot serve the dashboard on {where}: {_lower(exc.strerror or str(exc))}"
        ) from None
    return sockets


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


class Launch:
    """The source chain for one invocation (imports the optional parts lazily).

    With --web the dashboard's address is bound here, before any source runs: a taken
    port raises DashboardUnavailable and the script never starts.
    """

    def __init__(self, inv: Invocation, *, plain: bool, recorder: Recorder | None) -> None:
        self.inv = inv
        sockets = bind_dashboard(inv.host, inv.port) if inv.web else []
        self.child: ChildProcessSource | None = None
        self.bridged: Any = None
        callbacks: list[EnvelopeCallback] = [recorder] if recorder is not None else []
        make_bridge: Callable[[], Any] | None = None
        inner: EventSource
        if inv.mode == "script":
            env: dict[str, str] = {}
            fds: tuple[int, ...] = ()
            on_started = None
            if inv.web:
                from flock_tui.bridge import bridge_for_child

                child_bridge = bridge_for_child(inv.host, inv.port, inv.token, sockets=sockets)
                env, fds = child_bridge.env, child_bridge.pass_fds
                on_started = child_bridge.child_started

                def make_bridge() -> Any:
                    return child_bridge

            inner = self.child = ChildProcessSource(
                Path(inv.target), inv.args, env=env, pass_fds=fds, on_started=on_started
            )
        elif inv.mode == "replay":
            from flock_tui.sources.replay import ReplaySource

            speed = inv.speed if inv.speed is not None else (0.0 if plain else 1.0)
            inner = ReplaySource(Path(inv.target), speed=speed)
        else:
            from flock_tui.sources.websocket import WebSocketSource

            inner = WebSocketSource(inv.target, token=inv.token)
        if inv.web:
            from flock_tui.sources.bridged import BridgedSource

            if make_bridge is None:

                def make_bridge() -> Any:
                    from flock_tui.bridge import Bridge

                    return Bridge(host=inv.host, port=inv.port, token=inv.token, sockets=sockets)

            self.source: EventSource = BridgedSource(inner, make_bridge, *callbacks)
            self.bridged = self.source
        else:
            self.source = TeeSource(inner, *callbacks)

    @property
    def title(self) -> str:
        inv = self.inv
        if inv.mode == "script":
            return f"flock-tui · {Path(inv.target).name}"
        if inv.mode == "replay":
            return f"flock-tui · replay {Path(inv.target).name}"
        return f"flock-tui · attach {inv.target}"

    def exit_code(self, code: int | None) -> int:
        """The process exit code for a run that ended with `code` (None = not known)."""
        if code is not None:
            return code
        if self.child is not None and self.child.process is not None:
            returncode = self.child.process.returncode
            if returncode is not None:
                return describe_exit(returncode, crashed=False, stopped=False)[0]
        return 0 if self.inv.mode == "replay" else 1

    async def shutdown(self) -> None:
        """Stop a child that still runs and close the dashboard."""
        child = self.child
        if child is not None and child.process is not None:
            with contextlib.suppress(TimeoutError):
                if child.process.returncode is None:
                    await asyncio.wait_for(child.stop(), SHUTDOWN_SECONDS)
                else:  # the script has exited; processes it left in its group have not
                    await asyncio.wait_for(reap_group(child.process.pid), SHUTDOWN_SECONDS)
        if self.bridged is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.bridged.aclose("run finished"), SHUTDOWN_SECONDS)

    def kill_leftovers(self) -> None:
        if self.child is not None:
            self.child.kill_now()


def run_plain_mode(launch: Launch) -> int:
    from flock_tui.plain import run_plain

    async def go() -> SourceEnded:
        try:
            return await run_plain(launch.source, sys.stdout)
        finally:
            await launch.shutdown()

    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:  # never die of an unencodable character (LANG=C)
        reconfigure(errors="replace")
    try:
        ended = asyncio.run(go())
    finally:
        launch.kill_leftovers()
    return launch.exit_code(ended.exit_code)


class AppCrashed(Exception):
    """The Textual app itself failed; the terminal has been restored and the child stopped."""


def run_tui_mode(launch: Launch, app_factory: Callable[..., Any] | None = None) -> int:
    """Run the Textual app on `launch.source`; returns the exit code or raises AppCrashed."""
    if app_factory is None:
        from flock_tui.app import FlockApp

        app_factory = FlockApp
    app = app_factory(launch.source, exit_on_finish=launch.inv.exit_on_finish, title=launch.title)

    async def go() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(
                    signum, lambda s=signum: app.exit(128 + s, return_code=128 + s)
                )
        try:
            await app.run_async()
        finally:
            await launch.shutdown()

    try:
        asyncio.run(go())
    finally:
        launch.kill_leftovers()
    crash = getattr(app, "_exception", None)
    if crash is not None:
        cause = getattr(crash, "error", None)  # a WorkerFailed wraps the real error
        if isinstance(cause, BaseException):
            crash = cause
        raise AppCrashed(f"{type(crash).__name__}: {crash}")
    # The app's result is the run's exit code, or None when the run never told it.
    result = app.return_value
    return launch.exit_code(result if isinstance(result, int) else None)
