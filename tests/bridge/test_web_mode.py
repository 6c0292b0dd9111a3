"""`flock-tui --web SCRIPT` wiring: ChildProcessSource + BridgedSource + bridge_for_child.

The example runs as a real child process; its events reach a browser client through the
parent's bridge, and POST /api/control/publish publishes into the child's Flock.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from engine.events import Envelope
from flock_tui.bridge import bridge_for_child
from flock_tui.sources.base import SourceEnded, SourceNotice
from flock_tui.sources.bridged import BridgedSource
from flock_tui.sources.child import ChildProcessSource

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0


async def test_web_mode_serves_the_child_and_publishes_into_it(monkeypatch):
    monkeypatch.setenv("FLOCK_OFFLINE_TPS", "40")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    child_bridge = bridge_for_child(port=0)
    inner = ChildProcessSource(
        ROOT / "examples" / "05_dashboard.py",
        ["--question", "Do owls dream?"],
        env=child_bridge.env,
        pass_fds=child_bridge.pass_fds,
        on_started=child_bridge.child_started,
    )
    source = BridgedSource(inner, lambda: child_bridge)
    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(source.run(queue))
    items: list = []

    async def until(predicate) -> None:
        async with asyncio.timeout(WAIT):
            while not predicate():
                items.append(await queue.get())

    try:
        await until(
            lambda: any(isinstance(i, SourceNotice) and "dashboard" in i.text for i in items)
        )
        url = child_bridge.url
        assert url is not None
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(url.replace("http", "ws", 1) + "ws?since=0")
            async with asyncio.timeout(WAIT):
                while not child_bridge.channel.ready:
                    await asyncio.sleep(0.05)
            async with session.post(
                url + "api/control/publish",
                json={"artifact_type": "Question", "content": {"question": "And cats?"}},
            ) as response:
                assert response.status == 200, await response.text()
                artifact = (await response.json())["artifact"]
                assert artifact["type"] == "Question" and artifact["id"]
                assert "payload" not in artifact  # the child's answer never echoes it
            async with session.post(
                url + "api/control/publish", json={"artifact_type": "Question", "content": {}}
            ) as response:
                assert response.status == 422
                assert "question" in (await response.json())["error"]

            await until(lambda: any(isinstance(i, SourceEnded) for i in items))
            ended = items[-1]
            assert ended.exit_code == 0, ended
            envelopes = [i for i in items if isinstance(i, Envelope)]
            printed = "".join(e.data["text"] for e in envelopes if e.event_type == "console_output")
            assert "dashboard served by flock-tui" in printed  # no second server in the child
            assert "findings: 6; reports: 2" in printed  # the published Question ran too
            published = [e.data for e in envelopes if e.event_type == "message_published"]
            assert {"id": artifact["id"], "question": "And cats?"} in [
                {"id": d["artifact_id"], "question": d["payload"].get("question")}
                for d in published
            ]

            # The browser client saw the same run, in order, ending with run_finished.
            frames: list[dict] = []
            async with asyncio.timeout(WAIT):
                while not frames or frames[-1].get("event_type") != "run_finished":
                    frame = json.loads((await ws.receive()).data)
                    if "type" not in frame:
                        frames.append(frame)
            assert [f["seq"] for f in frames] == [e.seq for e in envelopes]
            async with session.post(
                url + "api/control/publish",
                json={"artifact_type": "Question", "content": {"question": "late"}},
            ) as response:
                assert response.status == 503
                assert "exited" in (await response.json())["error"]
            await ws.close()
    finally:
        await source.aclose("test over")
        task.cancel()
        if inner.process is not None and inner.process.returncode is None:
            inner.process.kill()
