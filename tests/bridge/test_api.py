"""Every HTTP endpoint of the bridge, through aiohttp's test client."""

from __future__ import annotations

import json

from engine.events import EventFactory
from flock_tui.bridge import Bridge

from .conftest import run_events


async def _client(aiohttp_client, bridge: Bridge):
    return await aiohttp_client(bridge.make_app())


async def test_page_is_served_with_a_strict_csp(aiohttp_client):
    client = await _client(aiohttp_client, Bridge(port=0))
    response = await client.get("/")
    assert response.status == 200
    html = await response.text()
    assert '<script src="/static/app.js"' in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    for name in ("app.js", "style.css"):
        static = await client.get(f"/static/{name}")
        assert static.status == 200
        text = await static.text()
        assert "http://" not in text and "https://" not in text  # works offline, no CDN


async def test_api_mode_serves_no_page(aiohttp_client):
    client = await _client(aiohttp_client, Bridge(port=0, dashboard=False))
    response = await client.get("/")
    assert response.status == 200
    body = await response.json()
    assert body["dashboard"] is False and "GET /ws?since=SEQ" in body["endpoints"]
    assert (await client.get("/static/app.js")).status == 404


async def test_agents_and_streaming_history(aiohttp_client, factory: EventFactory):
    bridge = Bridge(port=0)
    for envelope in run_events(factory, tokens=3):
        bridge.publish(envelope)
    client = await _client(aiohttp_client, bridge)
    agents = (await (await client.get("/api/agents")).json())["agents"]
    assert [a["name"] for a in agents] == ["writer", "critic"]
    assert all(a["state"] == "done" and a["tokens"] == 3 for a in agents)
    history = await (await client.get("/api/streaming-history/writer")).json()
    assert history["history"][0]["fields"]["text"] == "writer0 writer1 writer2 "
    missing = await client.get("/api/streaming-history/nobody")
    assert missing.status == 404
    assert "nobody" in (await missing.json())["error"]


async def test_events_since_pages_through_history(aiohttp_client, factory: EventFactory):
    bridge = Bridge(port=0)
    envelopes = list(run_events(factory, tokens=4))
    for envelope in envelopes:
        bridge.publish(envelope)
    client = await _client(aiohttp_client, bridge)
    body = await (await client.get("/api/events?since=3&limit=5")).json()
    assert [e["seq"] for e in body["events"]] == [4, 5, 6, 7, 8]
    assert body["more"] is True and body["truncated"] is False
    assert body["last_seq"] == envelopes[-1].seq
    rest = await (await client.get("/api/events?since=8&limit=1000")).json()
    assert [e["seq"] for e in rest["events"]] == list(range(9, envelopes[-1].seq + 1))
    assert rest["more"] is False
    for bad in ("since=x", "since=-1", "limit=0", "limit=100000"):
        response = await client.get(f"/api/events?{bad}")
        assert response.status == 400, bad
        assert "error" in await response.json()


async def test_events_reports_truncated_history(aiohttp_client, factory: EventFactory):
    bridge = Bridge(port=0, history_events=5)
    for envelope in run_events(factory, tokens=4):
        bridge.publish(envelope)
    client = await _client(aiohttp_client, bridge)
    body = await (await client.get("/api/events?since=0")).json()
    assert body["truncated"] is True
    assert len(body["events"]) == 5 and body["events"][0]["seq"] == body["first_seq"]


async def test_health_counts(aiohttp_client, factory: EventFactory):
    bridge = Bridge(port=0)
    for envelope in run_events(factory, tokens=2):
        bridge.publish(envelope)
    client = await _client(aiohttp_client, bridge)
    health = await (await client.get("/health")).json()
    assert health["status"] == "ok"
    assert health["events"] == health["last_seq"] > 0
    assert {"clients", "merges", "drops", "closed_slow_clients"} <= set(health)


async def test_publish_without_handler_is_501(aiohttp_client):
    client = await _client(aiohttp_client, Bridge(port=0))
    response = await client.post(
        "/api/control/publish", json={"artifact_type": "Idea", "content": {"topic": "x"}}
    )
    assert response.status == 501
    assert "publish handler" in (await response.json())["error"]


async def test_publish_calls_handler_and_maps_errors(aiohttp_client):
    calls = []

    async def handler(artifact_type: str, content: dict):
        calls.append((artifact_type, content))
        if artifact_type != "Idea":
            raise ValueError(f"unknown artifact type {artifact_type!r}")
        if "topic" not in content:
            raise ValueError("Idea.topic: field required")
        return {"id": "a1", "type": artifact_type, "payload": content}

    client = await _client(aiohttp_client, Bridge(port=0, publish_handler=handler))
    ok = await client.post(
        "/api/control/publish", json={"artifact_type": "Idea", "content": {"topic": "t"}}
    )
    assert ok.status == 200
    assert (await ok.json())["artifact"] == {"id": "a1", "type": "Idea", "payload": {"topic": "t"}}
    unknown = await client.post(
        "/api/control/publish", json={"artifact_type": "Nope", "content": {}}
    )
    assert unknown.status == 422
    assert (await unknown.json())["error"] == "unknown artifact type 'Nope'"
    invalid = await client.post(
        "/api/control/publish", json={"artifact_type": "Idea", "content": {}}
    )
    assert invalid.status == 422 and "topic" in (await invalid.json())["error"]
    assert len(calls) == 3
    # Malformed requests never reach the handler.
    cases = [
        (b"not json", "application/json", 400),
        (json.dumps([1]).encode(), "application/json", 400),
        (json.dumps({"artifact_type": "", "content": {}}).encode(), "application/json", 400),
        (json.dumps({"artifact_type": "Idea", "content": "x"}).encode(), "application/json", 400),
        (json.dumps({"artifact_type": "Idea", "content": {}}).encode(), "text/plain", 415),
    ]
    for body, content_type, status in cases:
        response = await client.post(
            "/api/control/publish", data=body, headers={"Content-Type": content_type}
        )
        assert response.status == status, body
        assert (await response.json())["error"]
    too_big = await client.post(
        "/api/control/publish",
        data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert too_big.status == 413
    assert len(calls) == 3


async def test_publish_handler_crash_is_500_not_a_dead_server(aiohttp_client):
    async def handler(artifact_type: str, content: dict):
        raise RuntimeError("boom")

    client = await _client(aiohttp_client, Bridge(port=0, publish_handler=handler))
    response = await client.post("/api/control/publish", json={"artifact_type": "X", "content": {}})
    assert response.status == 500
    assert "boom" in (await response.json())["error"]
    assert (await client.get("/health")).status == 200


async def test_publish_refuses_deep_or_non_standard_json_with_a_400(aiohttp_client):
    calls = []

    async def handler(artifact_type: str, content: dict):
        calls.append(content)
        return {"id": "a1"}

    client = await _client(aiohttp_client, Bridge(port=0, publish_handler=handler))
    deep_content = '{"artifact_type": "Idea", "content": {"x": ' + "[" * 70 + "]" * 70 + "}}"
    cases = [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),  # RecursionError in json
        (deep_content, "nested too deeply"),  # parses, but nothing downstream should recurse
        ('{"artifact_type": "Idea", "content": {"n": NaN}}', "NaN is not a JSON value"),
    ]
    for body, expected in cases:
        response = await client.post(
            "/api/control/publish", data=body, headers={"Content-Type": "application/json"}
        )
        assert response.status == 400, body[:60]
        error = (await response.json())["error"]
        assert expected in error and "\n" not in error
    fine = '{"artifact_type": "Idea", "content": {"x": ' + "[" * 60 + "]" * 60 + "}}"
    response = await client.post(
        "/api/control/publish", data=fine, headers={"Content-Type": "application/json"}
    )
    assert response.status == 200
    assert len(calls) == 1
    assert (await client.get("/health")).status == 200
