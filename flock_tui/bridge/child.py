"""`flock-tui --web SCRIPT`: the bridge in the parent, publishing into the child's Flock.

The parent creates a Unix socket pair; the child's end is passed to the script with
`pass_fds` and env FLOCK_TUI_CONTROL_FD, where `Flock()` calls `engine.control.attach`.
JSON lines on it, each at most engine.control.MAX_LINE bytes with its newline:

    parent -> child   {"id": 1, "artifact_type": "Idea", "content": {...}}
    child -> parent   {"type": "ready", "pid": 123}
                      {"id": 1, "type": "result", "ok": true, "artifact": {"id": ...}}
                      {"id": 1, "type": "result", "ok": false, "error": "one line"}

A result is small: the artifact's id, type and origin, never its payload (which may be
as long as the request). "id" comes first, so even a line too long to parse names its
request.

POST /api/control/publish goes through `ControlChannel.publish`: 413 at once when the
request line would be too long, 422 with the child's message when the artifact is
invalid, 503 before the script has attached a Flock or after it has exited.

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
import re
import socket
from typing import Any

from engine.control import MAX_LINE
from engine.events import Envelope

from .api import PublishRefused, PublishUnavailable
from .server import Bridge

CONTROL_FD_ENV = "FLOCK_TUI_CONTROL_FD"
BRIDGE_URL_ENV = "FLOCK_TUI_BRIDGE_URL"  # tells the child's serve() not to bind a 2nd server
READ_CHUNK = 64 * 1024
_ID_PREFIX = re.compile(rb'^\{"id":\s*(\d+)')  # both ends write "id" first


def encode_request(request_id: int, artifact_type: str, content: dict[str, Any]) -> bytes:
    """One request line for the child, newline included (UTF-8, compact)."""
    message = {"id": request_id, "artifact_type": artifact_type, "content": content}
    try:
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate (from a "\ud800" escape): keep it escaped
        data = json.dumps(message, separators=(",", ":")).encode()
    return data + b"\n"


class ControlChannel:
    """The parent's end of the control socket: send publish requests, await results.

    Both directions carry lines of at most MAX_LINE bytes (engine.control.MAX_LINE): a
    request that would be longer is refused here (413) before anything is sent; a line
    from the child that is too long or not a JSON object is counted, remembered in
    `last_problem` (shown in /health) and skipped: it never stops the reader.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self.ready = False
        self.child_pid: int | None = None
        self.gone: str | None = None
        self.bad_lines = 0
        self.last_problem: str | None = None

    async def start(self) -> None:
        reader, writer = await asyncio.open_unix_connection(sock=self._sock, limit=READ_CHUNK)
        self._writer = writer
        self._reader_task = asyncio.create_task(self._read(reader), name="flock-tui control")

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = bytearray()
        skipping = False  # inside a line already found too long: drop up to its newline
        try:
            while chunk := await reader.read(READ_CHUNK):
                buffer += chunk
                while (end := buffer.find(b"\n")) >= 0:
                    line = bytes(buffer[:end])
                    del buffer[: end + 1]
                    if skipping:
                        skipping = False
                    else:
                        self._on_line(line)
                if len(buffer) >= MAX_LINE:  # no newline within the limit
                    if not skipping:
                        self._too_long(bytes(buffer[:64]))
                        skipping = True
                    buffer.clear()
        except ConnectionError:
            pass
        finally:
            self._fail_all("the script has exited; nothing can be published into it")

    def _problem(self, text: str) -> None:
        self.bad_lines += 1
        self.last_problem = text

    def _too_long(self, head: bytes) -> None:
        self._problem(f"a line from the script over {MAX_LINE} bytes was skipped")
        match = _ID_PREFIX.match(head)
        future = self._waiting.pop(int(match.group(1)), None) if match else None
        if future is not None and not future.done():
            future.set_exception(
                PublishRefused(502, "the script's answer was too long to read; see /health")
            )

    def _on_line(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            self._problem(f"a line from the script is not JSON: {line[:60]!r}")
            return
        if not isinstance(message, dict):
            self._problem(f"a line from the script is not a JSON object: {line[:60]!r}")
            return
        if message.get("type") == "ready":
            self.ready = True
            pid = message.get("pid")
            self.child_pid = pid if isinstance(pid, int) else None
        elif message.get("type") == "result":
            request_id = message.get("id")
            future = self._waiting.pop(request_id, None) if isinstance(request_id, int) else None
            if future is not None and not future.done():
                future.set_result(message)

    def stats(self) -> dict[str, Any]:
        """For /health: the channel's state and the problems it skipped."""
        return {
            "ready": self.ready,
            "pending": len(self._waiting),
            "bad_lines": self.bad_lines,
            "last_problem": self.last_problem,
        }

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
        line = encode_request(request_id, artifact_type, content)
        if len(line) > MAX_LINE:
            raise PublishRefused(
                413,
                f"artifact too large for the script's control channel: {len(line)} bytes "
                f"encoded, at most {MAX_LINE}",
            )
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            self._writer.write(line)
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
    bridge.health_extra["control"] = channel.stats
    return ChildBridge(bridge, channel, child)
