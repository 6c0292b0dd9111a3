"""Fixtures for the bridge tests: event streams made with the real EventFactory."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

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
