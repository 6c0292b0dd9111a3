"""A client that never reads: bounded memory, merges counted, others keep flowing, kicked."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator

import aiohttp

from engine.events import AgentCompleted, EventFactory
from flock_tui.bridge import Bridge
from flock_tui.bridge.clients import QueueLimits
from flock_tui.bridge.wsclient import WSClient

from .conftest import TIMEOUT, Resume, receive_json, token

LIMITS = QueueLimits(
    soft_items=64,
    soft_bytes=64 * 1024,
    hard_items=400,
    hard_bytes=512 * 1024,
    close_items=800,
    close_bytes=1024 * 1024,
    max_lag=600,
)


async def never_reading_client(host: str, port: int) -> socket.socket:
    """A raw WebSocket handshake, after which the socket is never read again."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, (host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws?since=0 HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    head = b""
    async with asyncio.timeout(TIMEOUT):
        while b"\r\n\r\n" not in head:
            head += await loop.sock_recv(sock, 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


@contextlib.asynccontextmanager
async def stuck_and_reader(
    limits: QueueLimits = LIMITS, sent_at: dict[int, float] | None = None
) -> AsyncIterator[tuple[Bridge, EventFactory, aiohttp.ClientWebSocketResponse, Reader, WSClient]]:
    """A started Bridge with two clients: one read by a Reader, one never read (its
    server-side WSClient given; `sent_at` goes to the Reader). Everything is closed
    afterwards."""
    bridge = Bridge(port=0, limits=limits, send_timeout=60)
    await bridge.start()
    session = aiohttp.ClientSession()
    stuck = None
    try:
        ws, stuck, slow = await _connect_pair(bridge, session)
        yield bridge, EventFactory(), ws, Reader(ws, sent_at), slow
    finally:
        if stuck is not None:
            stuck.close()
        await session.close()
        await bridge.close("test over")


async def _connect_pair(bridge: Bridge, session: aiohttp.ClientSession):
    reader = await session.ws_connect(f"http://127.0.0.1:{bridge.port}/ws?since=0")
    async with asyncio.timeout(TIMEOUT):
        while len(bridge.clients) < 1:
            await asyncio.sleep(0.01)
    (fast,) = bridge.clients
    stuck = await never_reading_client("127.0.0.1", bridge.port)
    async with asyncio.timeout(TIMEOUT):
        while len(bridge.clients) < 2:
            await asyncio.sleep(0.01)
    (slow,) = bridge.clients - {fast}
    return reader, stuck, slow


class Reader:
    """Reads one client's frames in the background, checking seq order; with `sent_at`
    (seq -> when it was published) it keeps the worst delay from publish to receipt."""

    def __init__(
        self, ws: aiohttp.ClientWebSocketResponse, sent_at: dict[int, float] | None = None
    ) -> None:
        self.ws = ws
        self.last_seq = 0
        self.newest = 0  # the newest seq received, inside merged frames too
        self.text: dict[str, list[str]] = {}
        self.merged_frames = 0
        self.controls: list[dict] = []
        self.sent_at = sent_at if sent_at is not None else {}
        self.worst_delay = 0.0
        self.task = asyncio.create_task(self.run())

    async def run(self) -> None:
        while True:
            msg = await self.ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                return
            obj = msg.json()
            if "type" in obj:
                self.controls.append(obj)
                continue
            assert obj["seq"] > self.last_seq  # strictly increasing, even when merged
            self.last_seq = obj["seq"]
            seqs = [obj["seq"], *obj.get("merged_seqs", [])]
            self.newest = max(self.newest, *seqs)
            now = time.monotonic()
            for seq in seqs:
                if seq in self.sent_at:
                    self.worst_delay = max(self.worst_delay, now - self.sent_at.pop(seq))
            self.merged_frames += "merged" in obj
            if obj["event_type"] == "streaming_output":
                data = obj["data"]
                self.text.setdefault(data["agent_name"], []).append(data["content"])

    async def wait_for(self, seq: int) -> None:
        async with asyncio.timeout(TIMEOUT * 3):
            while self.newest < seq:
                await asyncio.sleep(0.01)


async def test_never_reading_client_is_bounded_and_does_not_hold_back_others():
    async with stuck_and_reader() as (bridge, factory, ws, reader, slow):
        agents = ("a", "b", "c", "d")
        expected: dict[str, list[str]] = {name: [] for name in agents}
        max_queue_items = max_queue_bytes = max_buffer = 0
        # Long run ids make big frames that fill the kernel's socket buffers quickly,
        # while the streamed text itself stays small.
        run_id = "run-" + "x" * 1000
        tracemalloc.start()
        burst = 50  # tokens of one stream in a row (merging only ever extends the tail)
        for i in range(12_000):
            name = agents[(i // burst) % len(agents)]
            content = f"{i:05d}:tok "
            expected[name].append(content)
            bridge.publish(token(factory, name, content, run_id=run_id))
            max_queue_items = max(max_queue_items, slow.queue.pending_items)
            max_queue_bytes = max(max_queue_bytes, slow.queue.pending_bytes)
            transport = slow.request.transport
            if transport is not None:
                max_buffer = max(max_buffer, transport.get_write_buffer_size())
            if i % 50 == 0:
                await asyncio.sleep(0)
        await reader.wait_for(bridge.history.last_seq)
        # What the bridge's client queues hold for the stuck client, measured, not counted.
        held = sum(
            stat.size
            for stat in tracemalloc.take_snapshot().statistics("filename")
            if stat.traceback[0].filename.endswith(("bridge/clients.py", "bridge/wsclient.py"))
        )
        tracemalloc.stop()
        assert held < 1024 * 1024, held

        # The reading client got every character of every stream, in order.
        for name in agents:
            assert "".join(reader.text[name]) == "".join(expected[name])
        # The stuck client's queue merged instead of growing: one item per burst.
        assert not slow.kicked
        assert slow.queue.stats.merges > 1000
        assert max_queue_items <= LIMITS.soft_items + 12_000 // burst + 1
        assert max_queue_bytes < LIMITS.close_bytes
        assert max_buffer < 1024 * 1024  # aiohttp's writer is not the unbounded buffer
        health = bridge.health()
        assert health["clients"] == 2
        assert health["merges"] >= slow.queue.stats.merges
        assert health["drops"] == 0 and health["closed_slow_clients"] == 0
        # Closing with the stuck client still connected: the reader is told, nothing hangs.
        await asyncio.wait_for(bridge.close("run finished"), TIMEOUT)
        await asyncio.wait_for(reader.task, TIMEOUT)
        assert reader.controls[-1] == {
            "type": "end",
            "reason": "run finished",
            "seq": bridge.history.last_seq,
            "finished": None,
        }
        assert ws.close_code == 1000


async def test_client_too_far_behind_is_closed_with_a_reason():
    async with stuck_and_reader() as (bridge, factory, ws, reader, slow):
        pad = "x" * 1000
        # Lifecycle events are never merged or dropped: they pile up until the stuck
        # client is too far behind, and then it is closed with a reason.
        for i in range(20_000):
            bridge.publish(
                factory.make(AgentCompleted(agent_name="a", run_id=f"r{i}", metrics={"pad": pad}))
            )
            assert slow.queue.pending_bytes <= LIMITS.close_bytes + 2048
            if i % 50 == 0:
                await asyncio.sleep(0)
            if slow.kicked:
                break
        assert slow.kicked and slow.close_code == 1013
        assert "too far behind" in slow.close_reason
        async with asyncio.timeout(TIMEOUT):
            while len(bridge.clients) > 1:
                await asyncio.sleep(0.01)
        assert bridge.health()["closed_slow_clients"] == 1
        # The other client is still live and complete.
        last = token(factory, "a", "after")
        bridge.publish(last)
        await reader.wait_for(last.seq)
        assert reader.text["a"] == ["after"]
        reader.task.cancel()


async def test_heartbeat_reaps_a_dead_client_even_when_idle():
    bridge = Bridge(port=0, heartbeat=0.2)
    await bridge.start()
    stuck = await never_reading_client("127.0.0.1", bridge.port)  # never answers pings
    try:
        async with asyncio.timeout(TIMEOUT):
            while not bridge.clients:
                await asyncio.sleep(0.01)
            while bridge.clients:
                await asyncio.sleep(0.05)
        assert bridge.health()["clients"] == 0
    finally:
        stuck.close()
        await bridge.close("test over")


async def test_eight_interleaved_streams_merge_for_a_never_reading_client():
    """Eight agents streaming at once, token by token: each stream's tokens fold into its
    own queued item, so the stuck client stays a few items behind and is not closed."""
    async with stuck_and_reader() as (bridge, factory, ws, reader, slow):
        agents = [f"agent{n}" for n in range(8)]
        expected = {name: "" for name in agents}
        max_items = 0
        for i in range(12_000):
            name = agents[i % 8]  # strictly interleaved: no two tokens of a stream in a row
            content = f"{i} "
            expected[name] += content
            # Long run ids fill the kernel's socket buffers quickly.
            bridge.publish(token(factory, name, content, run_id=f"{name}-{'x' * 1000}"))
            max_items = max(max_items, slow.queue.pending_items)
            if i % 50 == 0:
                await asyncio.sleep(0)
        await reader.wait_for(bridge.history.last_seq)
        assert not slow.kicked and not slow.queue.too_far_behind
        assert slow.queue.stats.merges > 8_000
        assert max_items <= LIMITS.soft_items + len(agents) + 1
        health = bridge.health()
        (stats,) = [c for c in health["per_client"] if c["merges"]]
        assert stats["merging_streams"] == len(agents) and stats["queued"] <= max_items
        # What the stuck client would still get: each stream's latest text, in order.
        queued: dict[str, str] = {name: "" for name in agents}
        seqs = []
        for text in slow.queue.drain_nowait():
            frame = json.loads(text)
            if "type" in frame:
                continue
            seqs.append(frame["seq"])
            absorbed = frame.get("merged_seqs", [])
            assert absorbed == sorted(absorbed) and all(later > frame["seq"] for later in absorbed)
            queued[frame["data"]["agent_name"]] += frame["data"]["content"]
        assert seqs == sorted(seqs)
        for name in agents:
            assert len(queued[name]) > 1000 and expected[name].endswith(queued[name])
        # The reading client got every stream whole and in order.
        assert {name: "".join(reader.text[name]) for name in agents} == expected


async def test_resume_in_the_middle_of_merged_frames_has_no_gap_and_no_duplicate():
    """A merged frame keeps its first token's seq and names the later ones: a client
    that leaves after an event queued between them and resumes from that event's seq
    skips the named seqs the history replays, so it gets every token exactly once."""
    bridge = Bridge(port=0, limits=LIMITS, send_timeout=60)
    await bridge.start()
    factory = EventFactory()
    session = aiohttp.ClientSession()
    try:
        # A client that does not read for now: its socket buffers fill, its queue grows.
        ws = await session.ws_connect(f"http://127.0.0.1:{bridge.port}/ws?since=0")
        async with asyncio.timeout(TIMEOUT):
            while not bridge.clients:
                await asyncio.sleep(0.01)
        (slow,) = bridge.clients
        pad = "run-" + "x" * 4000
        async with asyncio.timeout(TIMEOUT):
            n = 0
            while slow.queue.pending_items < LIMITS.soft_items + 1:
                n += 1  # a new run each time: these never merge
                bridge.publish(token(factory, "pad", "p", run_id=f"{pad}{n}"))
                await asyncio.sleep(0)
        expected: list[str] = []
        lifecycle_seqs: list[int] = []
        for i in range(30):
            content = f"a{i} "
            expected.append(content)
            bridge.publish(token(factory, "a", content))
            if i % 3 == 1:
                event = factory.make(AgentCompleted(agent_name="other", run_id=f"o{i}"))
                bridge.publish(event)
                lifecycle_seqs.append(event.seq)
        assert slow.queue.pending_items >= LIMITS.soft_items  # still under pressure
        cut = lifecycle_seqs[len(lifecycle_seqs) // 2]
        got: list[str] = []
        resume = Resume()

        async def read_until(ws: aiohttp.ClientWebSocketResponse, seq: int) -> None:
            async with asyncio.timeout(TIMEOUT):
                while True:
                    obj = await receive_json(ws)
                    if "type" in obj:
                        continue
                    data = obj["data"]
                    if resume.accept(obj) and data.get("agent_name") == "a":
                        got.append(data["content"])
                    if obj["seq"] >= seq:
                        assert obj["seq"] == seq
                        return

        await read_until(ws, cut)  # then the client goes away ...
        await ws.close()
        # ... having received, in merged frames, tokens queued after the cut.
        assert resume.absorbed and min(resume.absorbed) > cut
        # ... and comes back for everything after the last seq it received.
        ws = await session.ws_connect(f"http://127.0.0.1:{bridge.port}/ws?since={cut}")
        await read_until(ws, bridge.history.last_seq)
        await ws.close()
        assert "".join(got) == "".join(expected)
        assert resume.skipped > 0 and not resume.absorbed
    finally:
        await session.close()
        await bridge.close("test over")


async def test_a_never_reading_client_does_not_delay_the_others():
    """Tokens of eight agents at a steady rate, a client that never reads and one that
    does: the reader gets every token promptly while the stuck client stays connected
    with a bounded queue. A functional bound, not a benchmark."""
    sent_at: dict[int, float] = {}
    async with stuck_and_reader(sent_at=sent_at) as (bridge, factory, ws, reader, slow):
        agents = [f"agent{n}" for n in range(8)]
        max_items = max_bytes = 0
        started = time.monotonic()
        ticks = 0
        while time.monotonic() - started < 3.0:  # 8 tokens every 5 ms: 1600 tokens/s
            for name in agents:
                envelope = token(factory, name, f"{ticks} ", run_id=f"{name}-{'x' * 1000}")
                sent_at[envelope.seq] = time.monotonic()
                bridge.publish(envelope)
            max_items = max(max_items, slow.queue.pending_items)
            max_bytes = max(max_bytes, slow.queue.pending_bytes)
            ticks += 1
            await asyncio.sleep(0.005)
        await reader.wait_for(bridge.history.last_seq)
        assert not sent_at  # the reader got every seq (in a frame of its own or merged)
        assert reader.worst_delay < 0.5, reader.worst_delay
        # The stuck client is under pressure, still connected, its queue bounded.
        assert slow.queue.stats.merges > 1000
        assert slow.queue.pending_bytes >= LIMITS.soft_bytes  # still over the soft limit
        assert slow in bridge.clients and not slow.kicked
        assert max_items <= LIMITS.soft_items + len(agents) + 1
        assert max_bytes < LIMITS.hard_bytes
        print(
            f"tokens {ticks * len(agents)}, reader worst delay {reader.worst_delay * 1000:.0f} ms,"
            f" stuck client: merges {slow.queue.stats.merges}, max queued {max_items} items"
            f" / {max_bytes} bytes"
        )
