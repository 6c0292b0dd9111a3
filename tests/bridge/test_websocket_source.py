"""WebSocketSource (flock-tui attach) against a real Bridge on a real port."""

from __future__ import annotations

import asyncio
import socket

from engine.events import Envelope, EventFactory
from flock_tui.bridge import Bridge
from flock_tui.sources.base import EventSource, SourceEnded, SourceNotice
from flock_tui.sources.websocket import WebSocketSource

from .conftest import TIMEOUT, run_events, token


async def next_item(queue: asyncio.Queue, kind: type | tuple[type, ...] = object):
    async with asyncio.timeout(TIMEOUT):
        while True:
            item = await queue.get()
            if isinstance(item, kind):
                return item


async def connected(bridge: Bridge) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not bridge.clients:
            await asyncio.sleep(0.01)


async def envelopes_until(
    queue: asyncio.Queue, count: int, notices: list[str] | None = None
) -> list[Envelope]:
    got: list[Envelope] = []
    async with asyncio.timeout(TIMEOUT):
        while len(got) < count:
            item = await queue.get()
            assert not isinstance(item, SourceEnded), item
            if isinstance(item, Envelope):
                got.append(item)
            elif notices is not None and isinstance(item, SourceNotice):
                notices.append(item.text)
    return got


async def test_attach_streams_then_ends_when_the_server_announces_it(factory: EventFactory):
    bridge = Bridge(port=0)
    await bridge.start()
    envelopes = list(run_events(factory, tokens=3))
    for envelope in envelopes[:5]:
        bridge.publish(envelope)
    source = WebSocketSource(bridge.ws_url)
    assert isinstance(source, EventSource)
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(source.run(queue))
    try:
        await connected(bridge)
        for envelope in envelopes[5:]:
            bridge.publish(envelope)
        got = await envelopes_until(queue, len(envelopes))
        assert [e.seq for e in got] == list(range(1, len(envelopes) + 1))
        assert [e.event_type for e in got] == [e.event_type for e in envelopes]
        assert got[0].session_id == "test-session"
        await bridge.close("run finished")
        ended = await next_item(queue, SourceEnded)
        assert ended.reason == "run finished"
        await asyncio.wait_for(task, TIMEOUT)
    finally:
        task.cancel()
        await bridge.close("test over")


async def test_reconnects_and_resumes_without_gap_or_duplicate(factory: EventFactory):
    bridge = Bridge(port=0)
    await bridge.start()
    source = WebSocketSource(bridge.ws_url)
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(source.run(queue))
    contents: list[str] = []
    try:
        for round_ in range(3):
            async with asyncio.timeout(TIMEOUT):
                while not bridge.clients:
                    await asyncio.sleep(0.01)
            for i in range(20):
                bridge.publish(token(factory, "a", f"{round_}.{i} "))
            got = await envelopes_until(queue, 20)
            contents += [e.data["content"] for e in got]
            # The server drops the connection; events keep coming meanwhile.
            for client in list(bridge.clients):
                client.stop(1012, "restarting")
            for i in range(20, 30):
                bridge.publish(token(factory, "a", f"{round_}.{i} "))
            notices: list[str] = []
            got = await envelopes_until(queue, 10, notices)
            contents += [e.data["content"] for e in got]
            assert any("reconnected; resuming after seq" in n for n in notices), notices
        expected = [f"{r}.{i} " for r in range(3) for i in range(30)]
        assert contents == expected
        assert source.connections >= 3
        await source.stop()
        ended = await next_item(queue, SourceEnded)
        assert ended.reason == "detached"
    finally:
        task.cancel()
        await bridge.close("test over")


async def test_fresh_attach_after_history_overflow_rebuilds_from_snapshot(factory: EventFactory):
    bridge = Bridge(port=0, history_events=4)
    await bridge.start()
    for envelope in run_events(factory, tokens=5):
        bridge.publish(envelope)
    source = WebSocketSource(bridge.ws_url)
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(source.run(queue))
    try:
        warning = await next_item(queue, SourceNotice)
        while warning.level != "warning":
            warning = await next_item(queue, SourceNotice)
        assert "no longer has the events" in warning.text
        events = await envelopes_until(queue, 2 * 4 + 2)
        kinds = [e.event_type for e in events]
        assert kinds.count("agent_registered") == 2 and kinds.count("message_published") == 2
        text = [e.data["content"] for e in events if e.event_type == "streaming_output"]
        assert "writer0 writer1 writer2 writer3 writer4 " in text
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        live = token(factory, "writer", "live")
        bridge.publish(live)
        (after,) = await envelopes_until(queue, 1)
        assert after.data["content"] == "live"
    finally:
        await source.stop()
        await asyncio.wait_for(task, TIMEOUT)
        await bridge.close("test over")


async def test_wrong_token_ends_with_a_clear_reason():
    bridge = Bridge(port=0, token="right")
    await bridge.start()
    try:
        source = WebSocketSource(bridge.ws_url, token="wrong")
        queue: asyncio.Queue = asyncio.Queue()
        await asyncio.wait_for(source.run(queue), TIMEOUT)
        items = [queue.get_nowait() for _ in range(queue.qsize())]
        assert any(isinstance(i, SourceNotice) and "token" in i.text for i in items)
        assert isinstance(items[-1], SourceEnded) and "401" in items[-1].reason
        ok = WebSocketSource(bridge.ws_url + "?token=right")
        queue = asyncio.Queue()
        task = asyncio.create_task(ok.run(queue))
        await connected(bridge)
        await ok.stop()
        await asyncio.wait_for(task, TIMEOUT)
    finally:
        await bridge.close("test over")


async def test_unreachable_server_gives_up_with_notices():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = WebSocketSource(f"ws://127.0.0.1:{port}/ws", give_up_after=0.5, max_backoff=0.2)
    queue: asyncio.Queue = asyncio.Queue()
    await asyncio.wait_for(source.run(queue), TIMEOUT)
    items = [queue.get_nowait() for _ in range(queue.qsize())]
    assert isinstance(items[0], SourceNotice) and "retrying" in items[0].text
    assert isinstance(items[-1], SourceEnded) and "cannot reach" in items[-1].reason


async def test_reset_snapshot_keeps_concurrent_runs_of_one_agent_apart(factory: EventFactory):
    from engine.events import AgentActivated, AgentRegistered, StreamingOutput

    bridge = Bridge(port=0, history_events=4)
    await bridge.start()
    bridge.publish(factory.make(AgentRegistered(name="writer")))
    for run_id in ("r1", "r2"):
        bridge.publish(factory.make(AgentActivated(agent_name="writer", run_id=run_id)))
    for word in ("a1 ", "b1 ", "a2 ", "b2 "):  # the two runs interleave
        run_id = "r1" if word.startswith("a") else "r2"
        bridge.publish(
            factory.make(
                StreamingOutput(agent_name="writer", run_id=run_id, field="body", content=word)
            )
        )
    source = WebSocketSource(bridge.ws_url)
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(source.run(queue))
    try:
        events = await envelopes_until(queue, 5)  # registered, 2 x (activated, text)
        activated = [e.data["run_id"] for e in events if e.event_type == "agent_activated"]
        assert activated == ["r1", "r2"]
        text = {
            e.data["run_id"]: e.data["content"]
            for e in events
            if e.event_type == "streaming_output"
        }
        assert text == {"r1": "a1 a2 ", "r2": "b1 b2 "}
    finally:
        await source.stop()
        await asyncio.wait_for(task, TIMEOUT)
        await bridge.close("test over")
