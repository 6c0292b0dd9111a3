"""/ws: live events, resume without gap or duplicate, reset snapshots, bad client input."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import WSMsgType, WSServerHandshakeError

from engine.events import EventFactory
from flock_tui.bridge import Bridge

from .conftest import TIMEOUT, receive_events, receive_json, run_events, token


async def test_live_events_one_envelope_per_frame(aiohttp_client, factory: EventFactory):
    bridge = Bridge(port=0)
    client = await aiohttp_client(bridge.make_app())
    ws = await client.ws_connect("/ws?since=0")
    hello = await receive_json(ws)
    assert hello["type"] == "hello" and hello["bridge_id"] == bridge.id
    envelopes = list(run_events(factory, tokens=3))
    for envelope in envelopes:
        bridge.publish(envelope)
    got, _ = await receive_events(ws, envelopes[-1].seq)
    assert [e["seq"] for e in got] == [e.seq for e in envelopes]
    assert got[0]["event_type"] == "run_started" and got[0]["v"] == 1
    await ws.close()


async def test_late_client_gets_everything_then_live(aiohttp_client, factory: EventFactory):
    bridge = Bridge(port=0)
    before = list(run_events(factory, tokens=2))
    for envelope in before:
        bridge.publish(envelope)
    client = await aiohttp_client(bridge.make_app())
    ws = await client.ws_connect("/ws")  # no since: the whole history
    later = token(factory, "writer", "late")
    bridge.publish(later)
    got, controls = await receive_events(ws, later.seq)
    assert controls[0]["type"] == "hello"
    assert [e["seq"] for e in got] == list(range(1, later.seq + 1))


async def test_resume_after_reconnect_no_gap_no_duplicate(aiohttp_client, factory: EventFactory):
    bridge = Bridge(port=0)
    client = await aiohttp_client(bridge.make_app())
    first = list(run_events(factory, tokens=3))
    for envelope in first:
        bridge.publish(envelope)
    ws = await client.ws_connect("/ws?since=0")
    got, _ = await receive_events(ws, 6)
    last_seen = got[-1]["seq"]
    await ws.close()
    for i in range(5):
        bridge.publish(token(factory, "writer", f"offline{i}"))
    ws = await client.ws_connect(f"/ws?since={last_seen}&bridge_id={bridge.id}")
    newest = token(factory, "critic", "live")
    bridge.publish(newest)
    resumed, _ = await receive_events(ws, newest.seq)
    assert [e["seq"] for e in resumed] == list(range(last_seen + 1, newest.seq + 1))


async def test_resume_message_as_first_message(aiohttp_client, factory: EventFactory):
    bridge = Bridge(port=0)
    envelopes = list(run_events(factory, tokens=3))
    for envelope in envelopes:
        bridge.publish(envelope)
    client = await aiohttp_client(bridge.make_app())
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "resume", "since": 10})
    got, _ = await receive_events(ws, envelopes[-1].seq)
    assert [e["seq"] for e in got] == list(range(11, envelopes[-1].seq + 1))


async def test_resume_races_with_live_publishing(aiohttp_client, factory: EventFactory):
    """Reconnect again and again while events keep coming: the union is exact."""
    bridge = Bridge(port=0)
    client = await aiohttp_client(bridge.make_app())
    total = 600
    done = asyncio.Event()

    async def producer() -> None:
        for i in range(total):
            bridge.publish(token(factory, f"agent{i % 3}", f"t{i} "))
            if i % 7 == 0:
                await asyncio.sleep(0)
        done.set()

    seen: list[int] = []
    task = asyncio.create_task(producer())
    async with asyncio.timeout(TIMEOUT * 3):
        while not seen or seen[-1] < total:
            since = seen[-1] if seen else 0
            ws = await client.ws_connect(f"/ws?since={since}")
            for _ in range(37):
                obj = await receive_json(ws)
                if "type" in obj:
                    continue
                seen.append(obj["seq"])
                if obj["seq"] >= total:
                    break
            await ws.close()
    await task
    assert seen == list(range(1, total + 1))


async def test_history_overflow_sends_reset_snapshot(aiohttp_client, factory: EventFactory):
    bridge = Bridge(port=0, history_events=8)
    envelopes = list(run_events(factory, tokens=6))
    for envelope in envelopes:
        bridge.publish(envelope)
    client = await aiohttp_client(bridge.make_app())
    ws = await client.ws_connect("/ws?since=2")
    hello = await receive_json(ws)
    reset = await receive_json(ws)
    assert hello["type"] == "hello"
    assert reset["type"] == "reset" and "no longer holds seq 3" in reset["reason"]
    snapshot = reset["snapshot"]
    assert reset["seq"] == snapshot["seq"] == envelopes[-1].seq
    agents = {a["name"]: a for a in snapshot["agents"]}
    assert agents["writer"]["current"]["fields"]["text"] == "".join(f"writer{i} " for i in range(6))
    assert agents["critic"]["state"] == "done"
    assert [a["artifact_type"] for a in snapshot["artifacts"]] == ["Note", "Note"]
    live = token(factory, "writer", "after")
    bridge.publish(live)
    got, _ = await receive_events(ws, live.seq)
    assert [e["seq"] for e in got] == [live.seq]


async def test_other_bridge_id_gets_reset(aiohttp_client, factory: EventFactory):
    bridge = Bridge(port=0)
    for envelope in run_events(factory, tokens=1):
        bridge.publish(envelope)
    client = await aiohttp_client(bridge.make_app())
    ws = await client.ws_connect("/ws?since=3&bridge_id=someoneelse")
    await receive_json(ws)
    reset = await receive_json(ws)
    assert reset["type"] == "reset" and "not the one" in reset["reason"]


async def test_since_ahead_of_the_bridge_gets_reset(aiohttp_client, factory: EventFactory):
    bridge = Bridge(port=0)
    for envelope in run_events(factory, tokens=1):
        bridge.publish(envelope)
    client = await aiohttp_client(bridge.make_app())
    ws = await client.ws_connect("/ws?since=500")  # a seq from some earlier run
    await receive_json(ws)
    reset = await receive_json(ws)
    assert reset["type"] == "reset" and "ahead of this bridge" in reset["reason"]
    live = token(factory, "writer", "next")
    bridge.publish(live)
    got, _ = await receive_events(ws, live.seq)
    assert [e["seq"] for e in got] == [live.seq]


async def test_non_increasing_seq_is_restamped(aiohttp_client, factory: EventFactory):
    bridge = Bridge(port=0)
    other = EventFactory(session_id="second-run")
    bridge.publish(token(factory, "a", "x"))
    bridge.publish(token(factory, "a", "y"))
    bridge.publish(token(other, "b", "z"))  # seq 1 again
    assert bridge.history.last_seq == 3 and bridge.restamped == 1


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"type": "dance"}), "unknown message type 'dance'"),
        (json.dumps({"type": "resume", "since": "x"}), "integer since"),
    ],
)
async def test_bad_client_messages_get_an_error(aiohttp_client, factory, payload, expected):
    bridge = Bridge(port=0)
    client = await aiohttp_client(bridge.make_app())
    ws = await client.ws_connect("/ws?since=0")
    await receive_json(ws)  # hello
    await ws.send_str(payload)
    error = await receive_json(ws)
    assert error["type"] == "error" and expected in error["message"]
    await ws.send_json({"type": "ping"})
    assert (await receive_json(ws))["type"] == "pong"
    bridge.publish(token(factory, "a", "still alive"))
    got, _ = await receive_events(ws, 1)
    assert got[0]["data"]["content"] == "still alive"


async def test_deeply_nested_message_is_answered_not_fatal(aiohttp_client, factory):
    bridge = Bridge(port=0)
    client = await aiohttp_client(bridge.make_app())
    ws = await client.ws_connect("/ws?since=0")
    await receive_json(ws)  # hello
    await ws.send_str('{"a":' * 10_000 + "1" + "}" * 10_000)
    error = await receive_json(ws)
    assert error["type"] == "error" and "nested too deeply" in error["message"]
    await ws.send_json({"type": "ping"})
    assert (await receive_json(ws))["type"] == "pong"  # still connected
    bridge.publish(token(factory, "a", "still alive"))
    got, _ = await receive_events(ws, 1)
    assert got[0]["data"]["content"] == "still alive"


async def test_binary_and_flood_of_bad_messages_close_with_reason(aiohttp_client):
    bridge = Bridge(port=0)
    client = await aiohttp_client(bridge.make_app())
    ws = await client.ws_connect("/ws?since=0")
    await receive_json(ws)
    await ws.send_bytes(b"\x00\x01")
    assert "binary" in (await receive_json(ws))["message"]
    for _ in range(30):
        await ws.send_str("{")
    async with asyncio.timeout(TIMEOUT):
        while (msg := await ws.receive()).type is WSMsgType.TEXT:
            pass
    assert msg.type is WSMsgType.CLOSE or ws.closed
    assert ws.close_code == 1008
    assert (await (await client.get("/health")).json())["status"] == "ok"


async def test_oversize_message_closes_with_1009(aiohttp_client):
    bridge = Bridge(port=0, max_msg_size=1024)
    client = await aiohttp_client(bridge.make_app())
    ws = await client.ws_connect("/ws?since=0")
    await receive_json(ws)
    await ws.send_str(json.dumps({"type": "ping", "pad": "x" * 4096}))
    async with asyncio.timeout(TIMEOUT):
        while (await ws.receive()).type is WSMsgType.TEXT:
            pass
    assert ws.close_code == 1009
    assert (await client.get("/health")).status == 200


async def test_bad_since_query_is_400(aiohttp_client):
    client = await aiohttp_client(Bridge(port=0).make_app())
    with pytest.raises(WSServerHandshakeError) as info:
        await client.ws_connect("/ws?since=abc")
    assert info.value.status == 400
