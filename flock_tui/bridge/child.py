"""`flock-tui --web SCRIPT`: the bridge in the parent, publishing into the child's Flock.

The parent creates a Unix socket pair; the child's end is passed to the script with
`pass_fds` and env FLOCK_TUI_CONTROL_FD, where `Flock()` calls `engine.control.attach`.
JSON lines on it:

    parent -> child   {"id": 1, "artifact_type": "Idea", "content": {...}}
    child -> parent   {"type": "ready", "pid": 123}
                      {"type": "result", "id": 1, "ok": true, "artifact": {...}}
                      {"type": "result", "id": 1, "ok": false, "error": "one line"}

POST /api/control/publish goes through `ControlChannel.publish`: 422 with the child's
message when the artifact is invalid, 503 before the script has attached a Flock or
after it has exited.

    child_bridge = bridge_for_child(host, port, token)
    source = ChildProcessSource(script, args, env=child_bridge.env,
                                pass_fds=child_bridge.pass_fds,
                                on_started=child_bridge.child_started)
    BridgedSource(source, lambda: child_bridge)   # start(), publish(), close() like a Bridge

env also carries FLOCK_TUI_BRIDGE_URL, so a script calling flock.serve() under --web
does not try to bind a second server on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
from typing import Any

from engine.events import Envelope

from .api import PublishUnavailable
from .server import Bridge

CONTROL_FD_ENV = "FLOCK_TUI_CONTROL_FD"
BRIDGE_URL_ENV = "FLOCK_TUI_BRIDGE_URL"  # tells the child's serve() not to bind a 2nd server
MAX_LINE = 1024 * 1024


class ControlChannel:
    """The parent's end of the control socket: send publish requests, await results."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self.ready = False
        self.child_pid: int | None = None
        self.gone: str | None = None

    async def start(self) -> None:
        reader, writer = await asyncio.open_unix_connection(sock=self._sock, limit=MAX_LINE)
        self._writer = writer
        self._reader_task = asyncio.create_task(self._read(reader), name="flock-tui control")

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(message, dict):
                    continue
                if message.get("type") == "ready":
                    self.ready = True
                    pid = message.get("pid")
                    self.child_pid = pid if isinstance(pid, int) else None
                elif message.get("type") == "result":
                    future = self._waiting.pop(message.get("id"), None)  # type: ignore[arg-type]
                    if future is not None and not future.done():
                        future.set_result(message)
        except (ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass
        finally:
            self._fail_all("the script has exited; nothing can be published into it")

    def child_exited(self) -> None:
        self._fail_all("the script has exited; nothing can be published into it")

    def _fail_all(self, reason: str) -> None:
        self.gone = reason
        self.ready = False
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(PublishUnavailable(reason))
        self._waiting.clear()

    async def publish(self, artifact_type: str, content: dict[str, Any]) -> Any:
        if self.gone is not None:
            raise PublishUnavailable(self.gone)
        if not self.ready or self._writer is None:
            raise PublishUnavailable(
                "the script has not attached a Flock to the control channel (yet); "
                "publishing works once the script has created its Flock"
            )
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        line = json.dumps({"id": request_id, "artifact_type": artifact_type, "content": content})
        try:
            self._writer.write(line.encode() + b"\n")
            await self._writer.drain()
            result = await future
        finally:
            self._waiting.pop(request_id, None)
        if result.get("ok"):
            return result.get("artifact")
        raise ValueError(str(result.get("error") or "the script refused the artifact"))

    async def close(self) -> None:
        self._fail_all("the bridge is closed")
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        else:
            self._sock.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task


class ChildBridge:
    """A Bridge plus the env and fds that connect a child script's Flock to it."""

    def __init__(self, bridge: Bridge, channel: ControlChannel, child_sock: socket.socket) -> None:
        self.bridge = bridge
        self.channel = channel
        self._child_sock: socket.socket | None = child_sock
        fd = child_sock.fileno()
        self.env: dict[str, str] = {CONTROL_FD_ENV: str(fd), BRIDGE_URL_ENV: bridge.planned_url}
        self.pass_fds: tuple[int, ...] = (fd,)

    @property
    def url(self) -> str | None:
        return self.bridge.url

    async def start(self) -> str:
        """Start serving; afterwards `env` also holds FLOCK_TUI_BRIDGE_URL for the child."""
        await self.channel.start()
        url = await self.bridge.start()
        self.env[BRIDGE_URL_ENV] = url
        return url

    def publish(self, envelope: Envelope) -> None:
        """A TeeSource callback: forward every envelope to the bridge.

        An event from the child means it has been spawned: this process's copy of the
        child's socket end is closed then (so the child's exit is seen as EOF), and after
        run_finished publishing answers 503 at once.
        """
        if self._child_sock is not None:
            self.child_started()
        if envelope.event_type == "run_finished":
            self.channel.child_exited()
        self.bridge.publish(envelope)

    def child_started(self) -> None:
        """Close this process's copy of the child's end (the child has inherited it).

        Pass it as ChildProcessSource(on_started=...); publish() also calls it.
        """
        if self._child_sock is not None:
            self._child_sock.close()
            self._child_sock = None

    async def close(self, reason: str = "run ended") -> None:
        self.child_started()
        await self.channel.close()
        await self.bridge.close(reason)


def bridge_for_child(
    host: str = "127.0.0.1", port: int = 8344, token: str | None = None, **bridge_kw: Any
) -> ChildBridge:
    """A Bridge whose /api/control/publish publishes into the child script's Flock."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    os.set_inheritable(child.fileno(), False)  # pass_fds makes it inheritable in the child only
    channel = ControlChannel(parent)
    bridge = Bridge(host, port, token, publish_handler=channel.publish, **bridge_kw)
    return ChildBridge(bridge, channel, child)
