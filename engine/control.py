"""The child's end of `flock-tui --web`'s control channel: publish artifacts sent by the
dashboard into this script's Flock.

`Flock()` calls `attach(flock, fd)` when env FLOCK_TUI_CONTROL_FD is set. The fd is a
Unix stream socket (see flock_tui/bridge/child.py for the other end). JSON lines:

    in   {"id": 1, "artifact_type": "Idea", "content": {...}}
    out  {"type": "ready", "pid": 123}            once the Flock's event loop is known
         {"type": "result", "id": 1, "ok": true, "artifact": {...}}
         {"type": "result", "id": 1, "ok": false, "error": "one line"}

A daemon thread reads the requests (so a Flock built outside any event loop works) and
hands each one to `flock.publish_json` on the Flock's loop. The loop is learnt from the
running loop at attach time or from the first event the Flock emits (the channel is also
an event sink). Standard library only.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from typing import Any

from .events import Envelope

MAX_LINE = 1024 * 1024


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
        with self._write_lock:
            try:
                self.sock.sendall(data)
            except OSError:
                self._closed = True

    def read_loop(self) -> None:
        try:
            with self.sock.makefile("rb") as stream:
                for line in stream:
                    if len(line) > MAX_LINE:
                        continue
                    self._handle(line)
        except (OSError, ValueError):
            pass

    def _handle(self, line: bytes) -> None:
        try:
            request = json.loads(line)
        except ValueError:
            return
        if not isinstance(request, dict):
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
            self._result(request_id, artifact=_to_json(artifact))

    def _result(self, request_id: Any, *, artifact: Any = None, error: str | None = None) -> None:
        message: dict[str, Any] = {"type": "result", "id": request_id, "ok": error is None}
        if error is None:
            message["artifact"] = artifact
        else:
            message["error"] = error
        self._write(message)


def _to_json(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    return value if isinstance(value, dict) else {"value": str(value)}


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
