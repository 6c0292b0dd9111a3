"""--web's control channel: the parent's bridge publishes into a real child's Flock."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from engine.artifacts import Artifact
from engine.control import MAX_LINE, attach
from flock_tui.bridge import bridge_for_child
from flock_tui.bridge.api import PublishRefused
from flock_tui.bridge.child import ControlChannel

from .conftest import TIMEOUT

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import asyncio
from pydantic import BaseModel
from engine import Flock, flock_type

@flock_type
class Ping(BaseModel):
    text: str

class Waiter:
    def __init__(self):
        self.event = asyncio.Event()
    def send(self, envelope):
        data = envelope.data
        if envelope.event_type == "message_published" and data["payload"]["text"] == "stop":
            self.event.set()
    async def aclose(self):
        pass

async def main():
    flock = Flock(console=False)
    waiter = Waiter()
    flock.add_sink(waiter)
    await asyncio.wait_for(waiter.event.wait(), 60)
    pings = await flock.store.get_by_type(Ping)
    print("got", [p.text if len(p.text) < 10 else len(p.text) for p in pings], flush=True)

asyncio.run(main())
"""


async def start_child(child_bridge, script: str) -> asyncio.subprocess.Process:
    """Run `script` as the child of `child_bridge`; return once its Flock has attached."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), **child_bridge.env)
    env.pop("FLOCK_TUI_EVENT_FD", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        env=env,
        pass_fds=child_bridge.pass_fds,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    child_bridge.child_started()
    try:
        async with asyncio.timeout(TIMEOUT * 3):
            while not child_bridge.channel.ready:
                await asyncio.sleep(0.02)
    except TimeoutError:
        proc.kill()
        raise
    return proc


async def test_publish_into_a_child_flock_through_the_control_socket():
    child_bridge = bridge_for_child(port=0)
    url = await child_bridge.start()
    assert child_bridge.env["FLOCK_TUI_CONTROL_FD"] == str(child_bridge.pass_fds[0])
    assert child_bridge.env["FLOCK_TUI_BRIDGE_URL"] == url
    publish_url = url + "api/control/publish"
    proc = None
    async with aiohttp.ClientSession() as session:
        try:
            async with session.post(
                publish_url, json={"artifact_type": "Ping", "content": {"text": "x"}}
            ) as response:
                assert response.status == 503
                assert "not attached" in (await response.json())["error"]

            proc = await start_child(child_bridge, CHILD)
            assert child_bridge.channel.child_pid == proc.pid

            async with session.post(
                publish_url, json={"artifact_type": "Nope", "content": {}}
            ) as response:
                assert response.status == 422
                assert "unknown artifact type 'Nope'" in (await response.json())["error"]
            async with session.post(
                publish_url, json={"artifact_type": "Ping", "content": {"text": 3}}
            ) as response:
                assert response.status == 422
                assert "text" in (await response.json())["error"]
            async with session.post(
                publish_url, json={"artifact_type": "Ping", "content": {"text": "stop"}}
            ) as response:
                assert response.status == 200, await response.text()
                artifact = (await response.json())["artifact"]
                assert artifact["type"] == "Ping" and artifact["produced_by"] == "external"
                assert "payload" not in artifact  # a result line never echoes the payload
            out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT * 3)
            assert proc.returncode == 0, err.decode()
            assert out.decode().strip() == "got ['stop']"

            async with asyncio.timeout(TIMEOUT):
                while child_bridge.channel.gone is None:
                    await asyncio.sleep(0.02)
            async with session.post(
                publish_url, json={"artifact_type": "Ping", "content": {"text": "late"}}
            ) as response:
                assert response.status == 503
                assert "exited" in (await response.json())["error"]
        finally:
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()
            await child_bridge.close("test over")


async def test_big_publishes_never_break_the_control_channel():
    # A short publish timeout: a request the child drops shows up as a 504 in the test.
    child_bridge = bridge_for_child(port=0, publish_timeout=8.0)
    url = await child_bridge.start()
    proc = None
    headers = {"Content-Type": "application/json"}

    def body(text: str) -> bytes:
        raw = json.dumps(
            {"artifact_type": "Ping", "content": {"text": text}}, separators=(",", ":")
        )
        return raw.encode()

    try:
        proc = await start_child(child_bridge, CHILD)
        async with aiohttp.ClientSession() as session:

            async def post(data: bytes) -> tuple[int, dict, float]:
                started = time.monotonic()
                async with session.post(
                    url + "api/control/publish", data=data, headers=headers
                ) as response:
                    return response.status, await response.json(), time.monotonic() - started

            # Accepted by the HTTP limit, but the request line (with its id) would not fit:
            # refused at once, nothing sent.
            near = MAX_LINE - len(body("")) - 2
            status, answer, took = await post(body("x" * near))
            assert status == 413 and took < 5, answer
            assert "too large" in answer["error"] and str(MAX_LINE) in answer["error"]
            # Just under the line limit: the child takes it and its short answer gets back.
            status, answer, _ = await post(body("x" * (near - 10)))
            assert status == 200, answer
            assert "payload" not in answer["artifact"]
            # ~800 KB of UTF-8 text: passed on as UTF-8, not re-escaped past the limit.
            status, answer, _ = await post(body("é" * 400_000).replace(b"\\u00e9", "é".encode()))
            assert status == 200, answer
            # A lone surrogate forces \\u escapes: that line is too long, said at once.
            lone = body("\ud800" + "é" * 300_000).replace(b"\\u00e9", "é".encode())
            assert len(lone) < MAX_LINE
            status, answer, took = await post(lone)
            assert status == 413 and took < 5, answer
            status, answer, _ = await post(body("stop"))
            assert status == 200, answer
            health = await (await session.get(url + "health")).json()
            assert health["control"]["bad_lines"] == 0
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT * 3)
        assert proc.returncode == 0, err.decode()
        assert out.decode().strip() == f"got {[near - 10, 400_000, 'stop']}"
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        await child_bridge.close("test over")


async def _fake_child(channel: ControlChannel, child: socket.socket):
    reader, writer = await asyncio.open_unix_connection(sock=child, limit=4 * MAX_LINE)
    writer.write(b'{"type": "ready", "pid": 1}\n')
    async with asyncio.timeout(TIMEOUT):
        while not channel.ready:
            await asyncio.sleep(0.01)
    return reader, writer


async def test_parent_skips_bad_and_too_long_lines_from_the_child():
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    channel = ControlChannel(parent)
    await channel.start()
    try:
        reader, writer = await _fake_child(channel, child)
        first = asyncio.create_task(channel.publish("Ping", {"text": "a"}))
        second = asyncio.create_task(channel.publish("Ping", {"text": "b"}))
        ids = [json.loads(await reader.readline())["id"] for _ in range(2)]
        writer.write(b"not json\n[1]\n")
        # An answer over the line limit, in pieces: skipped, and its request told so.
        huge = b'{"id": %d, "type": "result", "ok": true, "artifact": {"x": "' % ids[0]
        writer.write(huge + b"y" * (2 * MAX_LINE) + b'"}}\n')
        writer.write(
            b'{"id": %d, "type": "result", "ok": true, "artifact": {"id": "b"}}\n' % ids[1]
        )
        await writer.drain()
        with pytest.raises(PublishRefused) as refused:
            await asyncio.wait_for(first, TIMEOUT)
        assert refused.value.status == 502 and "too long" in str(refused.value)
        assert await asyncio.wait_for(second, TIMEOUT) == {"id": "b"}
        assert channel.gone is None  # the reader lives on
        stats = channel.stats()
        assert stats["bad_lines"] == 3 and str(MAX_LINE) in stats["last_problem"]
        third = asyncio.create_task(channel.publish("Ping", {"text": "c"}))
        request_id = json.loads(await reader.readline())["id"]
        writer.write(b'{"id": %d, "type": "result", "ok": false, "error": "no"}\n' % request_id)
        with pytest.raises(ValueError, match="no"):
            await asyncio.wait_for(third, TIMEOUT)
        writer.close()
    finally:
        await channel.close()


class _FakeFlock:
    def __init__(self) -> None:
        self.published: list[tuple[str, dict]] = []

    def add_sink(self, sink) -> None:
        pass

    async def publish_json(self, artifact_type: str, content: dict) -> Artifact:
        self.published.append((artifact_type, content))
        return Artifact(id="a1", type=artifact_type, payload=content)


async def test_child_answers_unreadable_requests_and_never_echoes_the_payload():
    flock = _FakeFlock()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    assert attach(flock, theirs.detach()) is not None
    reader, writer = await asyncio.open_unix_connection(sock=ours, limit=4 * MAX_LINE)
    try:
        assert json.loads(await reader.readline())["type"] == "ready"
        writer.write(b'{"id": 7, "artifact_type": "Ping", "content": {"text": "')
        writer.write(b"z" * (MAX_LINE + 10) + b'"}}\n')
        writer.write(b'{"id": 8, "artifact_type": nope}\n')
        writer.write(
            (
                '{"id": 9, "artifact_type": "Ping", "content": {"text": "%s"}}\n' % ("é" * 1000)
            ).encode()
        )
        await writer.drain()
        answers = [json.loads(await asyncio.wait_for(reader.readline(), TIMEOUT)) for _ in range(3)]
        assert [(a["id"], a["ok"]) for a in answers] == [(7, False), (8, False), (9, True)]
        assert "over" in answers[0]["error"] and "not JSON" in answers[1]["error"]
        assert answers[2]["artifact"]["id"] == "a1" and "payload" not in answers[2]["artifact"]
        assert flock.published == [("Ping", {"text": "é" * 1000})]
    finally:
        writer.close()
