"""The /ws endpoint: one connected client, its resume point, its sender task.

Server -> client: every event envelope as one text frame (engine.events.encode; a merged
token frame carries `"merged": n`, `"merged_tokens": k` and `"merged_seqs": [...]`, the
later seqs folded into it: a client that resumes skips them, see clients.py), plus control
messages that have a "type" key and no "seq": `hello`, `reset` (with a snapshot), `stats`,
`pong`, `error`, `end`.

Client -> server: `{"type": "resume", "since": N}`, `{"type": "ping"}`. Anything else
gets an `error` message; too many bad messages close the socket (1008). Binary frames
are refused, oversize messages are closed by aiohttp (1009).

Resume: `/ws?since=N` (or a first message `resume`) delivers every event after N then
live ones. The client's queue is registered and the history read in the same step of
the event loop, so no event can fall between the replay and the live stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType, web

from .api import loads_client
from .clients import ClientQueue

if TYPE_CHECKING:
    from .server import Bridge

# How long a client that gave no ?since may take to send its first message (a resume)
# before the server starts streaming the whole history to it.
RESUME_GRACE = 0.25
MAX_BAD_MESSAGES = 20
CLOSE_TIMEOUT = 1.0


class WSClient:
    def __init__(self, bridge: Bridge, request: web.Request, ws: web.WebSocketResponse) -> None:
        self.bridge = bridge
        self.request = request
        self.ws = ws
        self.queue = ClientQueue(bridge.limits)
        self.go = asyncio.Event()
        self.cursor = 0
        self.bad_messages = 0
        self.close_code: int | None = None
        self.close_reason = ""
        self.sender: asyncio.Task[None] | None = None
        self.kicked = False

    # -- resume ------------------------------------------------------------------------
    def resync(self, since: int, bridge_id: str | None = None) -> None:
        """Queue hello, then every event after `since` (or a reset snapshot). Synchronous."""
        bridge = self.bridge
        history = bridge.history
        foreign = bridge_id not in (None, bridge.id)
        ahead = since > history.last_seq
        frames = None if foreign or ahead else history.since(since)
        hello = {
            "type": "hello",
            "bridge_id": bridge.id,
            "session_id": bridge.state.session_id,
            "since": since,
            "first_seq": history.first_seq,
            "last_seq": history.last_seq,
            "closing": bridge.closing,
        }
        preface = [json.dumps(hello)]
        if frames is None:
            if foreign:
                reason = f"this bridge ({bridge.id}) is not the one that sent seq {since}"
            elif ahead:
                reason = f"seq {since} is ahead of this bridge (last seq {history.last_seq})"
            else:
                reason = (
                    f"history no longer holds seq {since + 1} (oldest kept: {history.first_seq})"
                )
            reset = {
                "type": "reset",
                "reason": reason,
                "seq": history.last_seq,
                "snapshot": bridge.state.snapshot(),
            }
            preface.append(json.dumps(reset, default=str))
            frames = []
            self.cursor = history.last_seq
        else:
            self.cursor = since
        self.queue.replay(frames, preface)
        self.queue.skip_until = self.cursor

    # -- client messages ---------------------------------------------------------------
    def on_text(self, text: str) -> None:
        first = not self.go.is_set()
        self.go.set()
        try:
            message = loads_client(text)
        except ValueError as exc:
            self.bad(f"malformed message: {exc}")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self.bad('malformed message: expected a JSON object with a "type"')
            return
        kind = message["type"]
        if kind == "ping":
            self.queue.message(json.dumps({"type": "pong"}))
        elif kind == "resume":
            since = message.get("since")
            if isinstance(since, bool) or not isinstance(since, int) or since < 0:
                self.bad("resume needs an integer since >= 0")
                return
            bridge_id = message.get("bridge_id")
            if first:
                self.resync(since, bridge_id if isinstance(bridge_id, str) else None)
            elif since >= self.cursor:
                # Already streaming: skip what the client says it has.
                self.queue.skip_until = max(self.queue.skip_until, since)
            else:
                self.bad(
                    f"resume since {since} is before this connection's start ({self.cursor}); "
                    "reconnect with ?since="
                )
        else:
            self.bad(f"unknown message type {kind[:40]!r}")

    def bad(self, text: str) -> None:
        self.bad_messages += 1
        self.queue.message(json.dumps({"type": "error", "message": text}))
        if self.bad_messages > MAX_BAD_MESSAGES:
            self.stop(WSCloseCode.POLICY_VIOLATION, "too many malformed messages")

    def stop(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        self.queue.close(reason)

    # -- sending -----------------------------------------------------------------------
    def kick(self, reason: str) -> None:
        """Close a client that is too slow, now, even if its sender is stuck in a send."""
        if self.kicked:
            return
        self.kicked = True
        self.bridge.closed_slow_clients += 1
        self.stop(WSCloseCode.TRY_AGAIN_LATER, reason)
        if self.sender is not None and not self.sender.done():
            self.sender.cancel()

    async def send_loop(self) -> None:
        queue = self.queue
        ws = self.ws
        timeout = self.bridge.send_timeout
        try:
            await self.go.wait()
            while (text := await queue.next()) is not None:
                async with asyncio.timeout(timeout):
                    await ws.send_str(text)
        except TimeoutError:
            self.kick(f"client too slow: a send took over {timeout:g}s")
        except asyncio.CancelledError:
            if self.close_code is None:
                raise  # not ours: someone else cancelled the task
        except (ConnectionError, RuntimeError):
            self.stop(WSCloseCode.GOING_AWAY, "connection lost")
            return
        if queue.too_far_behind:
            self.kick(self.behind_reason())
        if self.close_code is None:
            self.stop(WSCloseCode.OK, "run ended")
        await self.close_socket()

    def behind_reason(self) -> str:
        return (
            f"client too far behind ({self.queue.pending_items} events, "
            f"{self.queue.pending_bytes} bytes queued); reconnect to resume"
        )

    async def close_socket(self) -> None:
        code = self.close_code or WSCloseCode.OK
        message = self.close_reason.encode()[:120]
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.ws.close(code=code, message=message)
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
        finally:
            transport = self.request.transport
            if transport is not None and not self.ws.closed:
                transport.abort()
            elif transport is not None and transport.get_write_buffer_size() > 0:
                transport.abort()

    def stats(self) -> dict[str, Any]:
        return {
            "sent": self.queue.stats.sent,
            "merges": self.queue.stats.merges,
            "drops": self.queue.stats.drops,
            "queued": self.queue.pending_items,
            "queued_bytes": self.queue.pending_bytes,
            "merging_streams": self.queue.merging_streams,
        }


def _parse_since(request: web.Request) -> int | None:
    raw = request.query.get("since")
    if raw is None or raw == "":
        return None
    try:
        since = int(raw)
    except ValueError:
        since = -1
    if since < 0:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"since must be an integer >= 0, got {raw[:40]!r}"}),
            content_type="application/json",
        )
    return since


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    bridge: Bridge = request.app["bridge"]
    if bridge.closing:
        raise web.HTTPServiceUnavailable(
            text=json.dumps({"error": "the bridge is shutting down"}),
            content_type="application/json",
        )
    since = _parse_since(request)
    ws = web.WebSocketResponse(
        heartbeat=bridge.heartbeat, max_msg_size=bridge.max_msg_size, compress=False
    )
    if not ws.can_prepare(request).ok:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "expected a WebSocket upgrade"}),
            content_type="application/json",
        )
    await ws.prepare(request)
    client = WSClient(bridge, request, ws)
    # One synchronous step: register, then read the history. Nothing can be published
    # in between, so replay + live stream have no gap and no duplicate.
    bridge.clients.add(client)
    client.resync(since or 0, request.query.get("bridge_id") or None)
    if since is not None:
        client.go.set()
    else:
        asyncio.get_running_loop().call_later(RESUME_GRACE, client.go.set)
    client.sender = asyncio.create_task(client.send_loop(), name="flock-tui bridge sender")
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                try:
                    client.on_text(msg.data)
                except Exception as exc:  # noqa: BLE001 - a client message never kills it
                    client.bad(f"message not understood: {type(exc).__name__}")
            elif msg.type is WSMsgType.BINARY:
                client.go.set()
                client.bad("binary frames are not accepted; send JSON text")
            else:
                break
    finally:
        if client.close_code is None:
            client.stop(ws.close_code or WSCloseCode.GOING_AWAY, "client closed")
        bridge.forget(client)
        sender = client.sender
        if sender is not None and not sender.done():
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(sender), CLOSE_TIMEOUT + 1)
            if not sender.done():
                sender.cancel()
    return ws
