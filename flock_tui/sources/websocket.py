"""WebSocketSource: a run served elsewhere, for `flock-tui attach ws://HOST:PORT/ws`.

Connects to a flock-tui bridge (`flock-tui --web` or a script calling
`flock.serve(...)`), decodes every frame with engine.events.decode and puts the
envelopes on the app's queue. On a lost connection it reconnects with backoff and
resumes after the last seq it saw (`?since=`), so nothing is missed or repeated. When
the server's history no longer reaches back that far, it says so and rebuilds what it
can from the server's snapshot. It ends (SourceEnded) when the server announces the end
of the run, closes normally, refuses the token, or when stop() is called.

Attaching fails with exit code 1 (`ATTACH_FAILED`, not 2: the command line was fine,
the server is what is missing, as with a script that fails) when the first connection
cannot be made within `CONNECT_SECONDS`, when the server refuses the token, when a lost
connection cannot be made again within `RECONNECT_SECONDS`, and when the user stops an
attach that never connected. A run whose end was seen keeps that run's exit code.

Envelopes are re-stamped with this source's own contiguous seq (the server's seq is kept
for resuming): merged token frames and events dropped for a slow client would otherwise
look like gaps to the app.

A merged token frame (a slow client's queue folds a stream's tokens together) keeps its
first token's seq and names the later seqs it absorbed in `merged_seqs`. Those above the
last seq seen are kept (a heap: only what is still in flight) and skipped when a resume
replays them, so nothing is shown twice; they are pruned as the last seq passes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import os
import socket
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp

from engine.events import (
    AgentActivated,
    AgentCompleted,
    AgentError,
    AgentRegistered,
    Envelope,
    EventPayload,
    MessagePublished,
    ProtocolError,
    RunFinished,
    StreamingOutput,
    decode,
    parse_json,
    utc_timestamp,
)
from flock_tui.sources.base import SourceEnded, SourceItem, SourceNotice

MAX_FRAME = 64 * 1024 * 1024  # a reset snapshot can be large
CONNECT_SECONDS = 10.0  # the first connection: retried with backoff, then given up
RECONNECT_SECONDS = 60.0  # after a lost connection: how long to keep trying to resume
ATTACH_FAILED = 1  # the exit code of an attach that never showed the run's end


def describe_failure(exc: BaseException) -> str:
    """A short reason for a failed connection attempt ("Connection refused")."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        err = exc.os_error
        if isinstance(err, socket.gaierror):
            return f"cannot resolve {exc.host}: {err.strerror or err}"
        if err.errno:
            return os.strerror(err.errno)
    if isinstance(exc, TimeoutError):
        return "no answer (timed out)"
    return str(exc) or type(exc).__name__


def _strip_token(url: str) -> tuple[str, str | None]:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    token = next((v for k, v in query if k == "token"), None)
    rest = [(k, v) for k, v in query if k not in ("token", "since", "bridge_id")]
    return urlunsplit(parts._replace(query=urlencode(rest))), token


class WebSocketSource:
    """An EventSource fed by a bridge's /ws endpoint."""

    live = True

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        connect_timeout: float | None = None,
        give_up_after: float | None = None,
        max_backoff: float = 5.0,
        heartbeat: float = 15.0,
    ) -> None:
        if not url.startswith(("ws://", "wss://")):
            raise ValueError(f"not a WebSocket URL (expected ws://HOST:PORT/ws): {url}")
        self.url, url_token = _strip_token(url)
        self.token = token or url_token
        self.connect_timeout = CONNECT_SECONDS if connect_timeout is None else connect_timeout
        self.give_up_after = RECONNECT_SECONDS if give_up_after is None else give_up_after
        self.max_backoff = max_backoff
        self.heartbeat = heartbeat
        self.description = f"attach {self.url}"
        self.server_seq = 0
        self.bridge_id: str | None = None
        self.connections = 0
        self.resets = 0
        self._seq = 0
        self._session_id = "attach"
        self._exit_code: int | None = None
        self._stopped = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reported_drops = 0
        # Server seqs above server_seq already delivered inside merged frames (a heap).
        self._absorbed: list[int] = []

    # -- the EventSource protocol ------------------------------------------------------
    async def run(self, queue: asyncio.Queue[SourceItem]) -> None:
        ended: SourceEnded | None = None
        try:
            async with aiohttp.ClientSession() as session:
                ended = await self._run(session, queue)
        except Exception as exc:  # noqa: BLE001 - whatever happens, end cleanly
            queue.put_nowait(SourceNotice("error", f"attach failed: {type(exc).__name__}: {exc}"))
            ended = SourceEnded(self._failed_code(), f"attach failed: {exc}")
        queue.put_nowait(ended or SourceEnded(self._exit_code, "detached"))

    async def stop(self) -> None:
        self._stopped.set()
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)

    # -- connecting --------------------------------------------------------------------
    def _connect_url(self) -> str:
        parts = urlsplit(self.url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        query.append(("since", str(self.server_seq)))
        if self.bridge_id:
            query.append(("bridge_id", self.bridge_id))
        return urlunsplit(parts._replace(query=urlencode(query)))

    def _failed_code(self) -> int:
        """The exit code when attaching fails: the run's own if its end was seen."""
        return ATTACH_FAILED if self._exit_code is None else self._exit_code

    async def _connect(
        self, session: aiohttp.ClientSession, headers: dict[str, str], timeout: float
    ) -> aiohttp.ClientWebSocketResponse | None:
        """One connection attempt of at most `timeout` seconds; None when stopped meanwhile."""
        connect = asyncio.ensure_future(
            asyncio.wait_for(
                session.ws_connect(
                    self._connect_url(),
                    headers=headers,
                    heartbeat=self.heartbeat,
                    max_msg_size=MAX_FRAME,
                    timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                ),
                timeout,
            )
        )
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait({connect, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not connect.done():
                connect.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await connect
        if connect.cancelled():
            return None
        ws = connect.result()  # raises what the attempt raised
        if self._stopped.is_set():
            await ws.close()
            return None
        return ws

    async def _run(
        self, session: aiohttp.ClientSession, queue: asyncio.Queue[SourceItem]
    ) -> SourceEnded:
        loop = asyncio.get_running_loop()
        backoff = 0.25
        # Until the first connection: give up after connect_timeout; after a lost one,
        # after give_up_after. Each attempt is bounded by what is left.
        deadline = loop.time() + self.connect_timeout
        failures = 0
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        while not self._stopped.is_set():
            try:
                ws = await self._connect(session, headers, max(deadline - loop.time(), 0.1))
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status in (401, 403):
                    why = "wrong or missing token" if exc.status == 401 else "refused (origin/host)"
                    queue.put_nowait(SourceNotice("error", f"{self.url}: {exc.status} {why}"))
                    return SourceEnded(
                        self._failed_code(), f"server refused the connection ({exc.status})"
                    )
                problem = f"handshake failed ({exc.status} {exc.message})"
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                problem = describe_failure(exc)
            else:
                if ws is None:  # stopped while connecting
                    break
                self._ws = ws
                self.connections += 1
                failures = 0
                backoff = 0.25
                if self.connections > 1:  # the first connection needs no notice
                    queue.put_nowait(
                        SourceNotice("info", f"reconnected; resuming after seq {self.server_seq}")
                    )
                ended = await self._read(ws, queue)
                if ended is not None:
                    return ended
                if self._stopped.is_set():
                    break
                deadline = loop.time() + self.give_up_after
                code = ws.close_code
                problem = f"connection lost (code {code})" if code else "connection lost"
            failures += 1
            remaining = deadline - loop.time()
            if remaining <= 0:
                return self._give_up(problem, failures, queue)
            if failures == 1 or failures % 10 == 0:
                limit = self.give_up_after if self.connections else self.connect_timeout
                queue.put_nowait(
                    SourceNotice(
                        "warning",
                        f"{self.url}: {problem}; retrying in {min(backoff, remaining):.2g}s"
                        f" (giving up after {limit:g}s)",
                    )
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), min(backoff, remaining))
            backoff = min(backoff * 2, self.max_backoff)
        if self.connections == 0:
            return SourceEnded(ATTACH_FAILED, f"stopped before connecting to {self.url}")
        return SourceEnded(self._exit_code, "detached")

    def _give_up(
        self, problem: str, attempts: int, queue: asyncio.Queue[SourceItem]
    ) -> SourceEnded:
        """An error notice with the details, and the end (exit code 1 unless known)."""
        if self.connections == 0:
            reason = f"cannot connect to {self.url}: {problem}"
            detail = f"{attempts} attempt(s) in {self.connect_timeout:g}s"
        else:
            reason = f"lost the connection to {self.url}: {problem}"
            detail = f"no reconnect within {self.give_up_after:g}s"
        queue.put_nowait(SourceNotice("error", f"{reason}; giving up ({detail})"))
        return SourceEnded(self._failed_code(), reason)

    # -- reading -----------------------------------------------------------------------
    async def _read(
        self, ws: aiohttp.ClientWebSocketResponse, queue: asyncio.Queue[SourceItem]
    ) -> SourceEnded | None:
        """Read until the socket closes; a SourceEnded when the run is over."""
        end_reason: str | None = None
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            try:
                obj = parse_json(msg.data)  # lone surrogates made U+FFFD
            except ValueError:
                queue.put_nowait(
                    SourceNotice("warning", "garbled frame from the server (not JSON)")
                )
                continue
            if isinstance(obj, dict) and isinstance(obj.get("type"), str):
                end_reason = self._control(obj, queue) or end_reason
                continue
            try:
                envelope = decode(msg.data)
            except ProtocolError as exc:
                queue.put_nowait(SourceNotice("warning", f"bad event from the server: {exc}"))
                continue
            self._deliver(envelope, queue)
        if end_reason is not None:
            return SourceEnded(self._exit_code, end_reason)
        if ws.close_code == aiohttp.WSCloseCode.OK:
            return SourceEnded(self._exit_code, "the server closed the connection")
        return None

    def _deliver(self, envelope: Envelope, queue: asyncio.Queue[SourceItem]) -> None:
        seq = envelope.seq
        if seq <= self.server_seq:
            return  # already seen (a resume overlap)
        absorbed = self._absorbed
        seen = False
        while absorbed and absorbed[0] <= seq:
            seen = heapq.heappop(absorbed) == seq or seen
        self.server_seq = seq
        if seen:
            return  # delivered before inside a merged frame (a resume replays it)
        extra = envelope.model_extra
        merged = extra.pop("merged_seqs", None) if extra else None  # server seqs: not passed on
        for later in merged if isinstance(merged, list) else ():
            if type(later) is int and later > seq:
                heapq.heappush(absorbed, later)
        self._session_id = envelope.session_id
        if envelope.event_type == "run_finished":
            payload = envelope.payload()
            if isinstance(payload, RunFinished):
                self._exit_code = payload.exit_code
        self._seq += 1
        queue.put_nowait(envelope.model_copy(update={"seq": self._seq}))

    def _control(self, message: dict[str, Any], queue: asyncio.Queue[SourceItem]) -> str | None:
        kind = message["type"]
        if kind == "hello":
            bridge_id = message.get("bridge_id")
            self.bridge_id = bridge_id if isinstance(bridge_id, str) else None
        elif kind == "reset":
            self.resets += 1
            self._reset(message, queue)
        elif kind == "end":
            return str(message.get("reason") or "run ended")
        elif kind == "stats":
            drops = message.get("drops")
            if isinstance(drops, int) and drops > self._reported_drops:
                queue.put_nowait(
                    SourceNotice(
                        "warning",
                        f"the server dropped {drops - self._reported_drops} event(s): too slow",
                    )
                )
                self._reported_drops = drops
        elif kind == "error":
            queue.put_nowait(SourceNotice("warning", f"server: {message.get('message')}"))
        return None

    # -- reset: rebuild from the server's snapshot --------------------------------------
    def _emit(self, payload: EventPayload, queue: asyncio.Queue[SourceItem]) -> None:
        self._seq += 1
        queue.put_nowait(
            Envelope(
                seq=self._seq,
                event_type=payload.event_type,
                timestamp=utc_timestamp(),
                session_id=self._session_id,
                data=payload.model_dump(mode="json"),
            )
        )

    def _reset(self, message: dict[str, Any], queue: asyncio.Queue[SourceItem]) -> None:
        snapshot = message.get("snapshot") or {}
        seen = self.server_seq
        fresh = seen == 0
        queue.put_nowait(
            SourceNotice(
                "warning",
                f"the server no longer has the events after seq {seen}; "
                + ("showing its snapshot" if fresh else "some streamed text may be missing"),
            )
        )
        if isinstance(snapshot.get("session_id"), str):
            self._session_id = snapshot["session_id"]
        try:
            if fresh:
                self._replay_agents(snapshot.get("agents") or [], queue)
            for art in snapshot.get("artifacts") or []:
                if isinstance(art, dict) and int(art.get("seq", 0)) > seen:
                    data = {k: v for k, v in art.items() if k != "seq"}
                    self._emit(MessagePublished.model_validate(data), queue)
        except (ValueError, TypeError, KeyError) as exc:
            queue.put_nowait(SourceNotice("warning", f"unusable snapshot: {exc}".splitlines()[0]))
        seq = message.get("seq")
        if isinstance(seq, int):
            self.server_seq = max(self.server_seq, seq)
        self._absorbed = [later for later in self._absorbed if later > self.server_seq]
        heapq.heapify(self._absorbed)

    def _replay_agents(
        self, agents: list[dict[str, Any]], queue: asyncio.Queue[SourceItem]
    ) -> None:
        for agent in agents:
            name = str(agent["name"])
            self._emit(
                AgentRegistered(
                    name=name,
                    description=str(agent.get("description") or ""),
                    consumes=list(agent.get("consumes") or []),
                    publishes=list(agent.get("publishes") or []),
                ),
                queue,
            )
            # The agent's last few runs, oldest first (older servers send only "current"):
            # concurrent runs of one agent each get their own section again.
            runs = agent.get("recent")
            if not isinstance(runs, list):
                runs = [agent.get("current")]
            for run in runs:
                if isinstance(run, dict):
                    self._replay_run(name, run, queue)

    def _replay_run(self, name: str, run: dict[str, Any], queue: asyncio.Queue[SourceItem]) -> None:
        run_id = str(run["run_id"])
        iteration = run.get("iteration")
        self._emit(
            AgentActivated(
                agent_name=name,
                run_id=run_id,
                iteration=iteration if isinstance(iteration, int) else 1,
            ),
            queue,
        )
        for field, text in (run.get("fields") or {}).items():
            self._emit(
                StreamingOutput(agent_name=name, run_id=run_id, field=field, content=str(text)),
                queue,
            )
        if run.get("state") == "done":
            self._emit(AgentCompleted(agent_name=name, run_id=run_id), queue)
        elif run.get("state") == "error":
            error = str(run.get("error") or "error")
            kind, _, text = error.partition(": ")
            self._emit(
                AgentError(agent_name=name, run_id=run_id, error_type=kind, error_message=text),
                queue,
            )
