"""Loopback by default, a token otherwise, and no foreign page can drive the bridge."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import WSServerHandshakeError

from flock_tui.bridge import Bridge
from flock_tui.bridge.security import is_loopback

from .conftest import receive_json


def test_loopback_detection():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.5.0.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.10", "example.com"))


def test_non_loopback_bind_requires_a_token():
    assert Bridge(host="127.0.0.1").token is None
    public = Bridge(host="0.0.0.0")
    assert public.token_generated and public.token and len(public.token) >= 24
    assert Bridge(host="0.0.0.0").token != public.token
    given = Bridge(host="0.0.0.0", token="mine")
    assert given.token == "mine" and not given.token_generated


async def test_public_bind_url_carries_the_token():
    bridge = Bridge(host="0.0.0.0", port=0)
    url = await bridge.start()
    try:
        assert url.endswith(f"?token={bridge.token}")
        async with aiohttp.ClientSession() as session:
            base = url.split("?")[0]
            async with session.get(base + "api/agents") as response:
                assert response.status == 401
            async with session.get(url.replace("/?", "/api/agents?")) as response:
                assert response.status == 200
            async with session.get(base) as response:  # the page itself holds no data
                assert response.status == 200
    finally:
        await bridge.close("test over")


async def test_token_checked_on_api_and_ws(aiohttp_client):
    client = await aiohttp_client(Bridge(port=0, token="s3cret").make_app())
    assert (await client.get("/api/agents")).status == 401
    assert (await client.get("/api/agents?token=wrong")).status == 401
    assert (await client.get("/api/agents?token=s3cret")).status == 200
    headers = {"Authorization": "Bearer s3cret"}
    assert (await client.get("/api/events", headers=headers)).status == 200
    response = await client.post("/api/control/publish", json={"artifact_type": "X", "content": {}})
    assert response.status == 401
    with pytest.raises(WSServerHandshakeError) as info:
        await client.ws_connect("/ws")
    assert info.value.status == 401
    ws = await client.ws_connect("/ws?since=0", headers=headers)
    assert (await receive_json(ws))["type"] == "hello"
    await ws.close()


async def test_foreign_origin_rejected_same_origin_allowed(aiohttp_client):
    client = await aiohttp_client(Bridge(port=0).make_app())
    host = f"{client.server.host}:{client.server.port}"
    for origin in ("http://evil.example", f"http://evil.example:{client.server.port}", "null"):
        with pytest.raises(WSServerHandshakeError) as info:
            await client.ws_connect("/ws", headers={"Origin": origin})
        assert info.value.status == 403, origin
    ws = await client.ws_connect("/ws?since=0", headers={"Origin": f"http://{host}"})
    assert (await receive_json(ws))["type"] == "hello"
    await ws.close()
    # A cross-site form POST is refused too.
    response = await client.post(
        "/api/control/publish",
        json={"artifact_type": "X", "content": {}},
        headers={"Origin": "http://evil.example"},
    )
    assert response.status == 403
    assert "foreign origin" in (await response.json())["error"]


async def test_dns_rebinding_host_rejected_on_loopback(aiohttp_client):
    client = await aiohttp_client(Bridge(port=0).make_app())
    port = client.server.port
    response = await client.get("/api/agents", headers={"Host": f"evil.example:{port}"})
    assert response.status == 403
    with pytest.raises(WSServerHandshakeError) as info:
        await client.ws_connect(
            "/ws",
            headers={"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"},
        )
    assert info.value.status == 403
    assert (await client.get("/health", headers={"Host": f"localhost:{port}"})).status == 200


async def test_health_needs_the_token_when_one_is_set(aiohttp_client):
    client = await aiohttp_client(Bridge(port=0, token="s3cret").make_app())
    response = await client.get("/health")
    assert response.status == 401
    assert "bridge_id" not in await response.text()
    assert (await client.get("/health?token=wrong")).status == 401
    assert (await client.get("/health?token=s3cret")).status == 200
    headers = {"Authorization": "Bearer s3cret"}
    assert (await (await client.get("/health", headers=headers)).json())["status"] == "ok"


async def test_health_on_a_public_bind_needs_the_generated_token():
    bridge = Bridge(host="0.0.0.0", port=0)
    url = await bridge.start()
    try:
        base = url.split("?")[0]
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "health") as response:
                assert response.status == 401
            async with session.get(base + f"health?token={bridge.token}") as response:
                assert response.status == 200
                assert (await response.json())["bridge_id"] == bridge.id
    finally:
        await bridge.close("test over")
