"""Token counts: the dashboard's /api/agents, snapshot and merged frames count as the TUI.

A chunk with no text (the end-of-field marker a DSPy stream ends each field with) is not
a token; when a run completes, the count the engine reports replaces the counted one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.events import AgentCompleted, EventFactory, StreamingOutput, decode
from flock_tui.bridge import Bridge
from flock_tui.bridge.clients import ClientQueue, QueueLimits
from flock_tui.bridge.history import Frame
from flock_tui.state import RunState as TuiState

from .conftest import token

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def end_of_field(factory: EventFactory, agent: str, run_id: str = "r1", field: str = "text"):
    return factory.make(
        StreamingOutput(agent_name=agent, run_id=run_id, field=field, content="", is_final=True)
    )


@pytest.mark.parametrize(
    "name", ["news_desk_mid.jsonl", "news_desk.jsonl", "recorded_blog_review.jsonl"]
)
async def test_api_counts_tokens_as_the_tui(aiohttp_client, name):
    bridge = Bridge(port=0)
    tui = TuiState()
    for line in (FIXTURES / name).read_text().splitlines():
        if line.strip():
            envelope = decode(line)
            bridge.publish(envelope)
            tui.apply(envelope)
    assert any(  # the fixture has end-of-field markers, or this test proves nothing
        '"content":""' in line and '"is_final":true' in line
        for line in (FIXTURES / name).read_text().splitlines()
    )
    expected = {agent.name: agent.tokens for agent in tui.agents.values()}
    client = await aiohttp_client(bridge.make_app())
    agents = (await (await client.get("/api/agents")).json())["agents"]
    assert {a["name"]: a["tokens"] for a in agents} == expected
    snapshot = await (await client.get("/api/snapshot")).json()
    assert {a["name"]: a["tokens"] for a in snapshot["agents"]} == expected
    for agent in snapshot["agents"]:  # per run too
        runs = {run.run_id: run.tokens for run in tui.agents[agent["name"]].runs.values()}
        assert all(run["tokens"] == runs[run["run_id"]] for run in agent["recent"])


def test_reported_tokens_replace_the_count_on_completion(factory: EventFactory):
    bridge = Bridge(port=0)
    for text in ("Hello", " world", "!"):
        bridge.publish(token(factory, "writer", text))
    bridge.publish(end_of_field(factory, "writer"))
    assert bridge.state.agents["writer"].summary()["tokens"] == 3
    metrics = {"tokens": 7, "chunks": 4}
    bridge.publish(factory.make(AgentCompleted(agent_name="writer", run_id="r1", metrics=metrics)))
    writer = bridge.state.agents["writer"]
    assert writer.summary()["tokens"] == 7 and writer.runs[-1].tokens == 7


def test_merged_frames_count_only_chunks_with_text(factory: EventFactory):
    queue = ClientQueue(QueueLimits(soft_items=1, soft_bytes=1))
    queue.offer(Frame.of(token(factory, "writer", "a")))
    queue.offer(Frame.of(token(factory, "writer", "b")))
    queue.offer(Frame.of(end_of_field(factory, "writer")))
    (frame,) = [f for f in map(json.loads, queue.drain_nowait()) if "type" not in f]
    assert frame["merged"] == 3 and frame["merged_tokens"] == 2
    assert frame["data"]["content"] == "ab" and frame["data"]["is_final"] is True
