"""--web's control channel: the parent's bridge publishes into a real child's Flock."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp

from flock_tui.bridge import bridge_for_child

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
        if envelope.event_type == "message_published":
            self.event.set()
    async def aclose(self):
        pass

async def main():
    flock = Flock(console=False)
    waiter = Waiter()
    flock.add_sink(waiter)
    await asyncio.wait_for(waiter.event.wait(), 30)
    pings = await flock.store.get_by_type(Ping)
    print("got", pings[0].text, flush=True)

asyncio.run(main())
"""


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

            env = dict(os.environ, PYTHONPATH=str(ROOT), **child_bridge.env)
            env.pop("FLOCK_TUI_EVENT_FD", None)
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                CHILD,
                env=env,
                pass_fds=child_bridge.pass_fds,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            child_bridge.child_started()
            async with asyncio.timeout(TIMEOUT * 3):
                while not child_bridge.channel.ready:
                    await asyncio.sleep(0.02)
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
                publish_url, json={"artifact_type": "Ping", "content": {"text": "hello"}}
            ) as response:
                assert response.status == 200, await response.text()
                artifact = (await response.json())["artifact"]
                assert artifact["type"] == "Ping" and artifact["payload"] == {"text": "hello"}
            out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT * 3)
            assert proc.returncode == 0, err.decode()
            assert out.decode().strip() == "got hello"

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
