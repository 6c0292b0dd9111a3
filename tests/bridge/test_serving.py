"""serve() with a real Flock and the offline model; the dashboard example end to end."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
from pydantic import BaseModel, Field

from engine import Flock, flock_type
from engine.serving import serve, serving
from flock_tui.bridge import Bridge

from .conftest import TIMEOUT

ROOT = Path(__file__).resolve().parents[2]


@flock_type
class BridgeTopic(BaseModel):
    """A topic to write about (bridge tests)."""

    topic: str


@flock_type
class BridgeNote(BaseModel):
    """A short note (bridge tests)."""

    title: str = Field(description="A title")
    text: str = Field(description="The note")


def make_flock() -> Flock:
    flock = Flock(console=False)
    for name in ("alpha", "beta"):
        flock.agent(name).description(f"writer {name}").consumes(BridgeTopic).publishes(BridgeNote)
    return flock


async def collect(ws: aiohttp.ClientWebSocketResponse, until) -> list[dict]:
    frames: list[dict] = []
    async with asyncio.timeout(TIMEOUT * 2):
        while True:
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.TEXT, msg
            obj = json.loads(msg.data)
            frames.append(obj)
            if until(frames):
                return frames


async def test_serving_streams_a_real_run_and_publishes_from_the_api():
    flock = make_flock()
    async with serving(flock, port=0, quiet=True) as bridge:
        assert bridge is not None and bridge.publish_handler is not None
        base = bridge.url
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(bridge.ws_url + "?since=0")
            # Publish through the HTTP API: validated, then the agents run.
            async with session.post(
                base + "api/control/publish",
                json={"artifact_type": "BridgeTopic", "content": {"topic": "owls"}},
            ) as response:
                assert response.status == 200, await response.text()
                body = await response.json()
                assert body["ok"] is True

            def done(frames: list[dict]) -> bool:
                notes = [
                    f
                    for f in frames
                    if f.get("event_type") == "message_published"
                    and f["data"]["artifact_type"] == "BridgeNote"
                ]
                return len(notes) == 2

            frames = await collect(ws, done)
            events = [f for f in frames if "type" not in f]
            kinds = [f["event_type"] for f in events]
            assert kinds[0] == "run_started"
            assert kinds.count("agent_registered") == 2
            streamed = {
                f["data"]["agent_name"] for f in events if f["event_type"] == "streaming_output"
            }
            assert streamed == {"alpha", "beta"}
            seqs = [f["seq"] for f in events]
            assert seqs == sorted(set(seqs))
            async with session.post(
                base + "api/control/publish",
                json={"artifact_type": "NoSuchType", "content": {}},
            ) as response:
                assert response.status == 422
                assert "unknown artifact type 'NoSuchType'" in (await response.json())["error"]
            async with session.post(
                base + "api/control/publish",
                json={"artifact_type": "BridgeTopic", "content": {"topic": 5}},
            ) as response:
                assert response.status == 422
                assert "topic" in (await response.json())["error"]
            async with session.get(base + "api/agents") as response:
                agents = {a["name"]: a for a in (await response.json())["agents"]}
                assert agents["alpha"]["tokens"] > 0
            await flock.run_until_idle()
            await ws.close()


async def test_serve_until_cancelled_announces_the_end():
    flock = make_flock()
    ready = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        flock.serve(dashboard=False, port=0, quiet=True, on_ready=ready.set_result)
    )
    url = await asyncio.wait_for(ready, TIMEOUT)
    assert flock.context.runtime_mode == "api"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert (await response.json())["dashboard"] is False
        ws = await session.ws_connect(url.replace("http", "ws") + "ws?since=0")
        await collect(ws, lambda f: f[-1].get("type") == "hello")
        task.cancel()
        frames = await collect(ws, lambda f: f[-1].get("type") == "end")
        assert frames[-1]["reason"] == "server stopped"
        closing = await asyncio.wait_for(ws.receive(), TIMEOUT)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1000
    try:
        await task
    except asyncio.CancelledError:
        pass
    else:  # pragma: no cover
        raise AssertionError("serve() should propagate the cancellation")


async def test_serve_until_idle_returns_and_is_quiet_under_web(monkeypatch):
    flock = make_flock()
    monkeypatch.setenv("FLOCK_TUI_BRIDGE_URL", "http://127.0.0.1:1/")

    async def kick_off(url: str) -> None:
        assert url == "http://127.0.0.1:1/"
        await flock.publish(BridgeTopic(topic="bees"))

    await asyncio.wait_for(
        serve(
            flock, dashboard=True, port=1, quiet=True, on_ready=kick_off, until_idle=True, linger=30
        ),
        TIMEOUT,
    )
    assert len(await flock.store.get_by_type(BridgeNote)) == 2


def test_import_engine_serving_loads_no_aiohttp():
    code = (
        "import sys, engine, engine.serving, engine.control\n"
        "assert 'aiohttp' not in sys.modules and 'flock_tui' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_dashboard_example_ends_by_itself(tmp_path: Path):
    env = dict(os.environ, FLOCK_OFFLINE_TPS="0", PYTHONPATH=str(ROOT))
    for key in (
        "FLOCK_TUI_EVENT_FD",
        "FLOCK_TUI_CONTROL_FD",
        "FLOCK_TUI_BRIDGE_URL",
        "DEFAULT_MODEL",
    ):
        env.pop(key, None)
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "05_dashboard.py"),
            "--linger",
            "0",
            "--port",
            "0",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "flock dashboard: http://127.0.0.1:" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "findings: 3; reports: 1"
    assert "Traceback" not in result.stderr


async def test_bridge_serves_sockets_bound_beforehand():
    from flock_tui.launch import bind_dashboard

    sockets = bind_dashboard("127.0.0.1", 0)
    port = sockets[0].getsockname()[1]
    bridge = Bridge(port=0, sockets=sockets)
    assert bridge.planned_url == f"http://127.0.0.1:{port}/"  # exact before start()
    try:
        assert await bridge.start() == f"http://127.0.0.1:{port}/"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/health") as response:
                assert response.status == 200
    finally:
        await bridge.close("test over")
