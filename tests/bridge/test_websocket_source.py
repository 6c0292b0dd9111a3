"""WebSocketSource (flock-tui attach) against a real Bridge on a real port."""

from __future__ import annotations

import asyncio
import json
import socket
import time

from aiohttp import web

from engine.events import Envelope, EventFactory, encode
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_unreachable_server_gives_up_with_notices():
    source = WebSocketSource(f"ws://127.0.0.1:{free_port()}/ws", connect_timeout=0.5)
    queue: asyncio.Queue = asyncio.Queue()
    started = time.monotonic()
    await asyncio.wait_for(source.run(queue), TIMEOUT)
    assert time.monotonic() - started < 3
    items = [queue.get_nowait() for _ in range(queue.qsize())]
    assert isinstance(items[0], SourceNotice) and "Connection refused; retrying" in items[0].text
    assert isinstance(items[-2], SourceNotice) and items[-2].level == "error"
    assert "giving up" in items[-2].text
    ended = items[-1]
    assert isinstance(ended, SourceEnded) and ended.exit_code == 1
    assert ended.reason.startswith("cannot connect to ws://127.0.0.1:")
    assert source.connections == 0


def test_the_first_connection_is_given_up_within_ten_seconds():
    source = WebSocketSource("ws://127.0.0.1:1/ws")
    assert 0 < source.connect_timeout <= 10
    assert 0 < source.give_up_after <= 60


async def test_a_server_that_never_answers_the_handshake_is_given_up():
    with socket.socket() as silent:  # accepts TCP connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        source = WebSocketSource(f"ws://127.0.0.1:{port}/ws", connect_timeout=0.5)
        queue: asyncio.Queue = asyncio.Queue()
        await asyncio.wait_for(source.run(queue), 5)
    items = [queue.get_nowait() for _ in range(queue.qsize())]
    assert isinstance(items[-1], SourceEnded) and items[-1].exit_code == 1
    assert "timed out" in items[-1].reason


async def test_stopping_an_attach_that_never_connected_is_a_failure():
    source = WebSocketSource(f"ws://127.0.0.1:{free_port()}/ws", connect_timeout=60)
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(source.run(queue))
    await next_item(queue, SourceNotice)  # the first refusal: now retrying
    await source.stop()
    await asyncio.wait_for(task, 2)
    ended = [queue.get_nowait() for _ in range(queue.qsize())][-1]
    assert isinstance(ended, SourceEnded) and ended.exit_code == 1
    assert ended.reason.startswith("stopped before connecting")


async def test_stop_interrupts_a_connection_attempt():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        source = WebSocketSource(f"ws://127.0.0.1:{silent.getsockname()[1]}/ws")
        queue: asyncio.Queue = asyncio.Queue()
        task = asyncio.create_task(source.run(queue))
        await asyncio.sleep(0.3)  # inside the (silent) handshake
        await source.stop()
        await asyncio.wait_for(task, 2)
    ended = queue.get_nowait()
    assert isinstance(ended, SourceEnded) and ended.exit_code == 1


async def serve(handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"ws://127.0.0.1:{port}/ws"


async def test_a_lost_connection_that_never_comes_back_is_given_up(factory: EventFactory):
    async def once(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(encode(token(factory, "a", "hello")))
        await ws.close(code=1012, message=b"restarting")
        return ws

    runner, url = await serve(once)
    source = WebSocketSource(url, give_up_after=0.5)
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(source.run(queue))
    try:
        (hello,) = await envelopes_until(queue, 1)
        assert hello.data["content"] == "hello"
        await runner.cleanup()  # the server is gone for good: reconnects are refused
        ended = await next_item(queue, SourceEnded)
        assert ended.exit_code == 1
        assert ended.reason.startswith(f"lost the connection to {url}")
        assert source.connections == 1
        await asyncio.wait_for(task, TIMEOUT)
    finally:
        task.cancel()
        await runner.cleanup()


async def attach_to(handler) -> list:
    """Everything a WebSocketSource puts on its queue, attached to `handler` until the end."""
    runner, url = await serve(handler)
    try:
        source = WebSocketSource(url)
        queue: asyncio.Queue = asyncio.Queue()
        await asyncio.wait_for(source.run(queue), TIMEOUT)
    finally:
        await runner.cleanup()
    return [queue.get_nowait() for _ in range(queue.qsize())]


async def test_lone_surrogates_in_control_frames_become_replacement_characters():
    snapshot = (
        '{"type":"reset","seq":3,"snapshot":{"session_id":"s","agents":[{"name":"a\\ud800",'
        '"recent":[{"run_id":"r","fields":{"f\\udfff":"x\\ud800\\udbff\\udfffy"},'
        '"state":"error","error":"Boom: bad \\udc80"}]}]}}'
    )

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(snapshot)
        await ws.send_str('{"type":"error","message":"odd \\ud800 frame"}')
        await ws.send_str('{"type":"end","reason":"done \\udfff"}')
        await ws.close()
        return ws

    items = await attach_to(handler)
    texts = [json.dumps(i.data, ensure_ascii=False) for i in items if isinstance(i, Envelope)]
    texts += [i.text for i in items if isinstance(i, SourceNotice)]
    texts.append(items[-1].reason)
    for text in texts:
        assert not any("\ud800" <= ch <= "\udfff" for ch in text), repr(text)
        text.encode("utf-8")
    streamed = [i for i in items if isinstance(i, Envelope) and i.event_type == "streaming_output"]
    assert streamed[0].data["agent_name"] == "a\ufffd"
    assert streamed[0].data["field"] == "f\ufffd"
    assert streamed[0].data["content"] == "x\ufffd\U0010ffffy"  # a real pair stays
    assert "server: odd \ufffd frame" in texts
    assert items[-1].reason == "done \ufffd"


async def test_a_deeply_nested_frame_is_one_garbled_frame_not_the_end(factory: EventFactory):
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("[" * 100_000)
        await ws.send_str(encode(token(factory, "a", "after")))
        await ws.send_str('{"type":"end","reason":"done"}')
        await ws.close()
        return ws

    items = await attach_to(handler)
    assert any(isinstance(i, SourceNotice) and "garbled frame" in i.text for i in items)
    assert [i.data["content"] for i in items if isinstance(i, Envelope)] == ["after"]
    assert items[-1].reason == "done"


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


EIGHT = [f"agent{n}" for n in range(8)]


def interleaved(
    bridge: Bridge, factory: EventFactory, expected: dict[str, str], start: int, n: int
):
    """n tokens of eight streams, strictly interleaved, published in one go (the client's
    sender cannot run in between: with a soft limit of one item they merge per stream)."""
    for i in range(start, start + n):
        name = EIGHT[i % 8]
        expected[name] = expected.get(name, "") + f"{i} "
        bridge.publish(token(factory, name, f"{i} ", run_id=f"run-{name}"))


async def test_resume_in_the_middle_of_merged_frames_has_no_gap_and_no_duplicate(
    factory: EventFactory,
):
    from engine.events import AgentActivated, AgentCompleted
    from flock_tui.bridge.clients import QueueLimits

    bridge = Bridge(port=0, limits=QueueLimits(soft_items=1, soft_bytes=1))
    await bridge.start()
    source = WebSocketSource(bridge.ws_url)
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(source.run(queue))
    expected: dict[str, str] = {}
    got: dict[str, str] = {}
    try:
        await connected(bridge)
        interleaved(bridge, factory, expected, 0, 200)
        middle = factory.make(AgentActivated(agent_name="other", run_id="o1"))
        bridge.publish(middle)  # another agent's: the streams merge across it
        interleaved(bridge, factory, expected, 200, 200)
        async with asyncio.timeout(TIMEOUT):
            while source.server_seq < middle.seq:
                await asyncio.sleep(0.01)
        # Eight merged frames (seqs 1..8) and the activation: the tokens published after
        # it were received inside the merged frames, above the last seq.
        assert source.server_seq == middle.seq
        assert sorted(source._absorbed) == list(range(middle.seq + 1, middle.seq + 201))
        for client in list(bridge.clients):
            client.stop(1012, "restarting")  # the connection is lost here ...
        interleaved(bridge, factory, expected, 400, 80)  # ... and the run goes on
        last = factory.make(AgentCompleted(agent_name="other", run_id="o1"))
        bridge.publish(last)
        events: list[Envelope] = []
        async with asyncio.timeout(TIMEOUT):
            while not events or events[-1].event_type != "agent_completed":
                item = await queue.get()
                if isinstance(item, Envelope):
                    events.append(item)
        for event in events:
            if event.event_type == "streaming_output":
                name = event.data["agent_name"]
                got[name] = got.get(name, "") + event.data["content"]
        assert got == expected  # every token once, each stream in order
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert not any("merged_seqs" in (e.model_extra or {}) for e in events)
        assert source.connections == 2 and source._absorbed == []
    finally:
        await source.stop()
        await asyncio.wait_for(task, TIMEOUT)
        await bridge.close("test over")
