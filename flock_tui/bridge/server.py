"""The Bridge: an aiohttp server that fans a run's events out to browsers and terminals.

    bridge = Bridge(host="127.0.0.1", port=8344, token=None, publish_handler=None)
    url = await bridge.start()          # "http://127.0.0.1:8344/" (+ "?token=..." if any)
    bridge.publish(envelope)            # sync, never blocks; call it on the event loop
    await bridge.close("run finished")  # announces the end, closes every socket cleanly

The Bridge itself prints nothing (a TUI may own the terminal): when it had to generate a
token (non-loopback bind without one) `bridge.token_generated` is True and the caller
shows `bridge.url`, which carries the token.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from engine.events import Envelope

from . import api
from .clients import QueueLimits
from .history import EventHistory, Frame, without_merged_seqs
from .security import Guard, is_loopback, new_token
from .snapshot import RunState
from .wsclient import WSClient, websocket_handler

PublishHandler = Callable[[str, dict[str, Any]], Awaitable[Any]]

STATIC_DIR = Path(str(resources.files("flock_tui.bridge") / "static"))

FLUSH_TIMEOUT = 1.5


CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class Bridge:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8344,
        token: str | None = None,
        publish_handler: PublishHandler | None = None,
        *,
        dashboard: bool = True,
        history_events: int = 20_000,
        history_bytes: int = 16 * 1024 * 1024,
        limits: QueueLimits | None = None,
        send_timeout: float = 10.0,
        publish_timeout: float = api.PUBLISH_TIMEOUT,
        max_msg_size: int = 64 * 1024,
        heartbeat: float = 15.0,
        sockets: list[socket.socket] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        # Listening sockets bound beforehand (flock-tui --web binds before the script
        # starts, so a taken port is an error before anything runs): served as they are.
        self._sockets = list(sockets or [])
        if self._sockets:
            self.port = self._sockets[0].getsockname()[1]
        self.token_generated = False
        if token is None and not is_loopback(host):
            token = new_token()
            self.token_generated = True
        self.token = token
        self.publish_handler = publish_handler
        self.dashboard = dashboard
        self.history = EventHistory(history_events, history_bytes)
        self.state = RunState()
        self.limits = limits or QueueLimits()
        self.send_timeout = send_timeout
        self.publish_timeout = publish_timeout
        self.max_msg_size = max_msg_size
        self.heartbeat = heartbeat
        self.id = uuid.uuid4().hex[:12]
        self.guard = Guard(host, token)
        self.clients: set[WSClient] = set()
        self.closing = False
        self.closed_slow_clients = 0
        self.restamped = 0
        self._gone_merges = 0
        self._gone_drops = 0
        self.url: str | None = None
        # More sections for /health, each a function returning JSON data (for example
        # "control": the --web control channel's state and the problems it skipped).
        self.health_extra: dict[str, Callable[[], Any]] = {}
        self._runner: web.AppRunner | None = None

    # -- the app -----------------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard_middleware], client_max_size=api.MAX_BODY)
        app["bridge"] = self
        r = app.router
        r.add_get("/ws", websocket_handler)
        r.add_get("/api/agents", api.agents)
        r.add_get("/api/events", api.events)
        r.add_get("/api/snapshot", api.snapshot)
        r.add_get("/api/streaming-history/{agent}", api.streaming_history)
        r.add_post("/api/control/publish", api.publish)
        r.add_get("/health", api.health)
        if self.dashboard:
            r.add_get("/", self._page)
            r.add_static("/static", STATIC_DIR, show_index=False, follow_symlinks=False)
        else:
            r.add_get("/", api.index)
        app.on_shutdown.append(self._on_shutdown)
        return app

    @web.middleware
    async def _guard_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        guard = self.guard
        guard.check_host(request)
        path = request.path
        if path in ("/ws", "/health") or path.startswith("/api/"):
            guard.check_token(request)  # /health names the session and its clients
        if path == "/ws" or request.method not in ("GET", "HEAD", "OPTIONS"):
            guard.check_origin(request)
        response = await handler(request)
        if not response.prepared:
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    async def _page(self, request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(STATIC_DIR / "index.html")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> str:
        """Start serving; return the dashboard URL (with ?token= when a token is set)."""
        if self._runner is not None:
            raise RuntimeError("bridge already started")
        runner = web.AppRunner(
            self.make_app(), handle_signals=False, access_log=None, shutdown_timeout=5.0
        )
        await runner.setup()
        sites: list[web.BaseSite] = [web.SockSite(runner, sock) for sock in self._sockets] or [
            web.TCPSite(runner, self.host, self.port, reuse_address=True)
        ]
        site = sites[0]
        try:
            for each in sites:
                await each.start()
        except OSError as exc:
            await runner.cleanup()
            raise OSError(
                exc.errno, f"cannot serve on {self.host}:{self.port}: {exc.strerror}"
            ) from None
        self._runner = runner
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self.url = self._url_for(self.port)
        return self.url

    def _url_for(self, port: int) -> str:
        shown = self.host
        if shown in ("0.0.0.0", "::", ""):
            shown = "127.0.0.1"
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{port}/" + (f"?token={self.token}" if self.token else "")

    @property
    def planned_url(self) -> str:
        """The URL start() will return (exact unless port is 0)."""
        return self.url or self._url_for(self.port)

    @property
    def ws_url(self) -> str:
        base = (self.url or f"http://{self.host}:{self.port}/").split("?")[0]
        return "ws" + base[4:] + "ws"

    def publish(self, envelope: Envelope) -> None:
        """Record one event and offer it to every client. Synchronous, never blocks."""
        if self.closing:
            return
        extra = envelope.model_extra
        if extra and "merged_seqs" in extra:
            # A merged frame another bridge sent: its merged_seqs name that bridge's
            # seqs, and this bridge's clients would skip their own events for them.
            envelope = without_merged_seqs(envelope)
        if envelope.seq <= self.history.last_seq:
            # Resume relies on strictly increasing seq: re-stamp an out-of-order event.
            envelope = envelope.model_copy(update={"seq": self.history.last_seq + 1})
            self.restamped += 1
        frame = Frame.of(envelope)
        self.history.append(frame)
        self.state.apply(envelope)
        for client in self.clients:
            queue = client.queue
            queue.offer(frame)
            if queue.too_far_behind and not client.kicked:
                client.kick(client.behind_reason())

    async def close(self, reason: str = "run ended") -> None:
        """Tell every client the run ended, flush what they can take, close the sockets."""
        if self.closing:
            return
        self.closing = True
        end = json.dumps(
            {
                "type": "end",
                "reason": reason,
                "seq": self.history.last_seq,
                "finished": self.state.finished,
            }
        )
        clients = list(self.clients)
        for client in clients:
            client.queue.message(end)
            client.queue.finish()
        senders = [c.sender for c in clients if c.sender is not None and not c.sender.done()]
        if senders:  # let clients that keep up receive everything, then the end message
            await asyncio.wait(senders, timeout=min(FLUSH_TIMEOUT, self.send_timeout))
        for client in clients:
            sender = client.sender
            if sender is not None and not sender.done():
                client.stop(1000, reason)  # normal closure: the run is over
                sender.cancel()  # may be stuck in a send; it then closes the socket
        if senders:
            await asyncio.wait(senders, timeout=FLUSH_TIMEOUT)
        for sender in senders:
            sender.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _on_shutdown(self, app: web.Application) -> None:
        for client in list(self.clients):
            client.stop(1001, "server shutting down")
            await client.close_socket()

    async def __aenter__(self) -> Bridge:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close("bridge closed")

    # -- numbers -----------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        clients = list(self.clients)
        merges = sum(c.queue.stats.merges for c in clients) + self._gone_merges
        drops = sum(c.queue.stats.drops for c in clients) + self._gone_drops
        return {
            "status": "closing" if self.closing else "ok",
            "bridge_id": self.id,
            "session_id": self.state.session_id,
            "clients": len(clients),
            "events": self.history.total,
            "last_seq": self.history.last_seq,
            "history": {
                "events": len(self.history),
                "bytes": self.history.bytes,
                "first_seq": self.history.first_seq,
                "evicted": self.history.evicted,
            },
            "merges": merges,
            "drops": drops,
            "closed_slow_clients": self.closed_slow_clients,
            "restamped": self.restamped,
            "per_client": [c.stats() for c in clients],
        } | {name: section() for name, section in self.health_extra.items()}

    def forget(self, client: WSClient) -> None:
        """Drop a disconnected client, keeping its merge/drop counts in the totals."""
        if client in self.clients:
            self.clients.discard(client)
            self._gone_merges += client.queue.stats.merges
            self._gone_drops += client.queue.stats.drops
