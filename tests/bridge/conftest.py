"""Fixtures for the bridge tests: event streams made with the real EventFactory."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType

from engine.events import (
    AgentActivated,
    AgentCompleted,
    AgentRegistered,
    Envelope,
    EventFactory,
    MessagePublished,
    RunStarted,
    StreamingOutput,
)
from flock_tui.bridge import Bridge

TIMEOUT = 10.0


def run_events(
    factory: EventFactory, agents: tuple[str, ...] = ("writer", "critic"), tokens: int = 5
) -> Iterator[Envelope]:
    """A small multi-agent run: registered, activated, interleaved tokens, published."""
    yield factory.make(RunStarted(script="demo.py", runtime_mode="dashboard", model="offline"))
    for name in agents:
        yield factory.make(AgentRegistered(name=name, description=f"the {name}"))
    for name in agents:
        yield factory.make(AgentActivated(agent_name=name, run_id=f"{name}-1"))
    for i in range(tokens):
        for name in agents:
            yield factory.make(
                StreamingOutput(
                    agent_name=name,
                    run_id=f"{name}-1",
                    field="text",
                    content=f"{name}{i} ",
                    sequence=i,
                )
            )
    for name in agents:
        yield factory.make(
            MessagePublished(
                artifact_id=f"art-{name}",
                artifact_type="Note",
                produced_by=name,
                payload={"text": name},
            )
        )
        yield factory.make(AgentCompleted(agent_name=name, run_id=f"{name}-1"))


def token(
    factory: EventFactory, agent: str, content: str, run_id: str = "r1", field: str = "text"
) -> Envelope:
    return factory.make(
        StreamingOutput(agent_name=agent, run_id=run_id, field=field, content=content)
    )


@pytest.fixture
def factory() -> EventFactory:
    return EventFactory(session_id="test-session")


async def receive_json(ws: ClientWebSocketResponse, timeout: float = TIMEOUT) -> dict:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type is WSMsgType.TEXT, f"expected a text frame, got {msg.type} {msg.data!r}"
    return json.loads(msg.data)


class Resume:
    """What a protocol client keeps to resume: the last seq it received, and the seqs
    above it it already got inside merged frames (skipped when a resume replays them)."""

    def __init__(self) -> None:
        self.last = 0
        self.absorbed: set[int] = set()
        self.skipped = 0

    def accept(self, envelope: dict) -> bool:
        """True for an event to show; False for one already shown."""
        seq = envelope["seq"]
        if seq <= self.last:
            return False
        self.last = seq
        seen = seq in self.absorbed
        self.absorbed = {later for later in self.absorbed if later > seq}
        if seen:
            self.skipped += 1
            return False
        self.absorbed.update(envelope.get("merged_seqs", []))
        return True


async def receive_events(
    ws: ClientWebSocketResponse, until_seq: int, timeout: float = TIMEOUT
) -> tuple[list[dict], list[dict]]:
    """Read frames until an envelope with seq >= until_seq: (envelopes, control messages)."""
    envelopes: list[dict] = []
    controls: list[dict] = []
    async with asyncio.timeout(timeout):
        while True:
            obj = await receive_json(ws, timeout)
            if "type" in obj:
                controls.append(obj)
                continue
            envelopes.append(obj)
            if obj["seq"] >= until_seq:
                return envelopes, controls


# -- the real browser (tests/bridge/test_browser*.py) ---------------------------------
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
WAIT = 30.0


@pytest.fixture
async def page() -> AsyncIterator:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = await browser.new_context()
        page = await context.new_page()
        page.problems = []  # console errors (a CSP violation would show here)
        page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        try:
            yield page
        finally:
            await browser.close()


@pytest.fixture
async def served() -> AsyncIterator[tuple[Bridge, str, EventFactory]]:
    """A started Bridge on a free port, its URL and an event factory; closed afterwards."""
    bridge = Bridge(port=0)
    url = await bridge.start()
    try:
        yield bridge, url, EventFactory()
    finally:
        await bridge.close("test over")
