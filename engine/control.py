"""The child's end of `flock-tui --web`'s control channel: publish artifacts sent by the
dashboard into this script's Flock.

`Flock()` calls `attach(flock, fd)` when env FLOCK_TUI_CONTROL_FD is set. The fd is a
Unix stream socket (see flock_tui/bridge/child.py for the other end). JSON lines of
at most MAX_LINE bytes (newline included) each way:

    in   {"id": 1, "artifact_type": "Idea", "content": {...}}
    out  {"type": "ready", "pid": 123}            once the Flock's event loop is known
         {"id": 1, "type": "result", "ok": true, "artifact": {"id": ..., "type": ...}}
         {"id": 1, "type": "result", "ok": false, "error": "one line"}

A result never carries the artifact's payload (it can be as long as the request): the
artifact's other fields only, and an error is cut to MAX_ERROR characters. A request
line that is too long or not JSON is answered with an error result when its leading
"id" can be read, and skipped otherwise; it never stops the reader.

A daemon thread reads the requests (so a Flock built outside any event loop works) and
hands each one to `flock.publish_json` on the Flock's loop. The loop is learnt from the
running loop at attach time or from the first event the Flock emits (the channel is also
an event sink). Standard library only.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import threading
from typing import Any

from .events import Envelope

MAX_LINE = 1024 * 1024
MAX_ERROR = 500
_ID_PREFIX = re.compile(rb'^\{\s*"id"\s*:\s*(\d+)')


class ControlChannel:
    def __init__(self, flock: Any, sock: socket.socket) -> None:
        self.flock = flock
        self.sock = sock
        self.loop: asyncio.AbstractEventLoop | None = None
        self._loop_known = threading.Event()
        self._write_lock = threading.Lock()
        self._closed = False

    # -- the EventSink protocol: learn the loop from the first event -------------------
    def send(self, envelope: Envelope) -> None:
        if self.loop is None:
            self._learn_loop()

    async def aclose(self) -> None:
        self._closed = True

    def _learn_loop(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self.loop = loop
        self._loop_known.set()
        self._write({"type": "ready", "pid": os.getpid()})

    # -- the socket --------------------------------------------------------------------
    def _write(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, default=str) + "\n").encode()
        if len(data) > MAX_LINE and message.get("type") == "result":
            # Never send the parent a line it must skip: answer with a short error.
            short = {"id": message.get("id"), "type": "result", "ok": False}
            data = (json.dumps({**short, "error": "the answer was too long"}) + "\n").encode()
        with self._write_lock:
            try:
                self.sock.sendall(data)
            except OSError:
                self._closed = True

    def read_loop(self) -> None:
        try:
            with self.sock.makefile("rb") as stream:
                while line := stream.readline(MAX_LINE + 1):
                    if len(line) <= MAX_LINE:
                        self._handle(line)
                        continue
                    self._refuse(line, f"request over {MAX_LINE} bytes")
                    while not line.endswith(b"\n") and (line := stream.readline(64 * 1024)):
                        pass  # the rest of the over-long line
        except (OSError, ValueError):
            pass

    def _refuse(self, line: bytes, reason: str) -> None:
        """Answer a request that cannot be read, if its leading "id" can be."""
        match = _ID_PREFIX.match(line[:64])
        if match:
            self._result(int(match.group(1)), error=f"{reason}: skipped")

    def _handle(self, line: bytes) -> None:
        try:
            request = json.loads(line)
        except (ValueError, RecursionError):
            self._refuse(line, "request not JSON")
            return
        if not isinstance(request, dict):
            self._refuse(line, "request not a JSON object")
            return
        request_id = request.get("id")
        artifact_type = request.get("artifact_type")
        content = request.get("content")
        if not isinstance(artifact_type, str) or not isinstance(content, dict):
            self._result(request_id, error="need artifact_type (string) and content (object)")
            return
        self._loop_known.wait()
        loop = self.loop
        if loop is None or loop.is_closed() or self._closed:
            self._result(request_id, error="the script's event loop has stopped")
            return
        try:
            future = asyncio.run_coroutine_threadsafe(
                self.flock.publish_json(artifact_type, content), loop
            )
        except RuntimeError:
            self._result(request_id, error="the script's event loop has stopped")
            return
        future.add_done_callback(lambda f: self._done(request_id, f))

    def _done(self, request_id: Any, future: Any) -> None:
        try:
            artifact = future.result()
        except ValueError as exc:  # engine.PublishError: a one-line reason
            self._result(request_id, error=str(exc).splitlines()[0] if str(exc) else "invalid")
        except BaseException as exc:  # noqa: BLE001 - report anything, never crash the thread
            self._result(request_id, error=f"{type(exc).__name__}: {exc}")
        else:
            self._result(request_id, artifact=_summary(artifact))

    def _result(self, request_id: Any, *, artifact: Any = None, error: str | None = None) -> None:
        message: dict[str, Any] = {"id": request_id, "type": "result", "ok": error is None}
        if error is None:
            message["artifact"] = artifact
        else:
            message["error"] = error if len(error) <= MAX_ERROR else error[: MAX_ERROR - 1] + "…"
        self._write(message)


def _summary(value: Any) -> dict[str, Any]:
    """An artifact without its payload (a result line stays short)."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude={"payload"})
    return {"value": str(value)[:MAX_ERROR]}


def attach(flock: Any, fd: int) -> ControlChannel | None:
    """Serve publish requests arriving on `fd` into `flock`. None if fd is unusable."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return None
    sock.setblocking(True)
    channel = ControlChannel(flock, sock)
    flock.add_sink(channel)
    channel._learn_loop()
    thread = threading.Thread(target=channel.read_loop, name="flock-tui control", daemon=True)
    thread.start()
    return channel
