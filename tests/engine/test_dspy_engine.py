"""The DSPy path with the real offline model: streaming, tools, validation, errors."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from engine import Flock, RunContext, flock_tool, flock_type
from engine.dspy_engine import build_signature

from .conftest import events, idle


@flock_type
class Topic(BaseModel):
    """Something to write about."""

    topic: str


@flock_type
class Essay(BaseModel):
    """A short essay."""

    title: str = Field(description="A title")
    body: str = Field(description="The text")
    mood: Literal["calm", "angry", "happy"]
    rating: int = Field(ge=1, le=10)
    keywords: list[str]


@flock_type
class Grumpy(BaseModel):
    """Never satisfied."""

    text: str

    @model_validator(mode="after")
    def reject(self) -> Grumpy:
        raise ValueError("nothing is ever good enough")


TOOL_CALLS: list[dict] = []


@flock_tool
def lookup_facts(query: str) -> str:
    """Look up facts about a query."""
    TOOL_CALLS.append({"query": query})
    return f"Three facts about {query}."


@flock_tool
def broken_tool(query: str) -> str:
    """A tool that always fails."""
    raise ConnectionError("the archive is offline")


def test_signature_flattens_the_published_type() -> None:
    flock = Flock(console=False)
    writer = flock.agent("writer").consumes(Topic).publishes(Essay)
    from engine import Artifact

    plan = build_signature(writer.agent, [Artifact.from_model(Topic(topic="owls"))])
    assert list(plan.signature.input_fields) == ["topic"]
    assert list(plan.signature.output_fields) == ["title", "body", "mood", "rating", "keywords"]
    assert plan.streamed_fields == ["title", "body"]
    rating = plan.signature.output_fields["rating"]
    assert "greater than or equal to: 1" in rating.json_schema_extra["constraints"]


async def test_str_fields_stream_and_the_artifact_validates(flock, sink) -> None:
    flock.agent("writer").description("Writes essays.").consumes(Topic).publishes(Essay)
    await flock.publish(Topic(topic="night owls and city lights"))
    await idle(flock)
    (essay,) = await flock.store.get_by_type(Essay)
    assert 1 <= essay.rating <= 10 and essay.mood in ("calm", "angry", "happy")
    chunks = [e for e in events(sink, "streaming_output") if e.output_type == "llm_token"]
    assert {c.field for c in chunks} == {"title", "body"}
    assert [c.sequence for c in chunks] == list(range(len(chunks)))
    for field in ("title", "body"):
        mine = [c for c in chunks if c.field == field]
        assert len(mine) > 1 or field == "title"
        assert [c.is_final for c in mine].count(True) == 1 and mine[-1].is_final
        assert " ".join("".join(c.content for c in mine).split()) == " ".join(
            getattr(essay, field).split()
        )
    (published,) = [e for e in events(sink, "message_published") if e.artifact_type == "Essay"]
    assert {c.artifact_id for c in chunks} == {published.artifact_id}
    (completed,) = events(sink, "agent_completed")
    assert completed.metrics["tokens"] == len([c for c in chunks if c.content])
    assert completed.artifact_ids == [published.artifact_id]
    activated = events(sink, "agent_activated")[0]
    assert activated.model == "offline" and activated.consumed_types == ["Topic"]


async def test_parallel_agents_stream_interleaved(flock, sink, monkeypatch) -> None:
    monkeypatch.setenv("FLOCK_OFFLINE_TPS", "400")
    for name in ("one", "two", "three"):
        flock.agent(name).consumes(Topic).publishes(Essay)
    await flock.publish(Topic(topic="rivers"))
    await idle(flock)
    order = [e.agent_name for e in events(sink, "streaming_output")]
    switches = sum(1 for a, b in zip(order, order[1:], strict=False) if a != b)
    assert switches > 10, "three agents at 400 tps must interleave their chunks"
    assert len(await flock.store.get_by_type(Essay)) == 3


async def test_tool_calls_show_up_as_status_events(flock, sink) -> None:
    TOOL_CALLS.clear()
    flock.agent("researcher").consumes(Topic).publishes(Essay).with_tools([lookup_facts])
    await flock.publish(Topic(topic="volcanoes"))
    await idle(flock)
    assert TOOL_CALLS, "the offline model must pick the offered tool"
    statuses = [e.content for e in events(sink, "streaming_output") if e.output_type == "status"]
    assert any(s.startswith("calling tool lookup_facts(") for s in statuses)
    assert any("Three facts about" in s for s in statuses)
    thoughts = [
        e
        for e in events(sink, "streaming_output")
        if e.output_type == "llm_token" and e.field == "thought"
    ]
    assert thoughts and thoughts[-1].is_final, "ReAct thoughts stream as field 'thought'"
    assert len(await flock.store.get_by_type(Essay)) == 1
    registered = [e for e in events(sink, "agent_registered") if e.name == "researcher"]
    assert registered[0].tools == ["lookup_facts"]


async def test_raising_tool_is_an_agent_error(flock, sink) -> None:
    flock.agent("unlucky").consumes(Topic).publishes(Essay).with_tools([broken_tool])
    flock.agent("lucky").consumes(Topic).publishes(Essay)
    await flock.publish(Topic(topic="archives"))
    await idle(flock)
    (error,) = events(sink, "agent_error")
    assert error.agent_name == "unlucky" and error.error_type == "ToolError"
    assert error.error_message == (
        "tool broken_tool raised ConnectionError: the archive is offline"
    )
    essays = await flock.store.get_artifacts_by_type(Essay)
    assert [a.produced_by for a in essays] == ["lucky"]


async def test_output_failing_validation_is_an_agent_error(flock, sink) -> None:
    flock.agent("grump").consumes(Topic).publishes(Grumpy)
    flock.agent("writer").consumes(Topic).publishes(Essay)
    await flock.publish(Topic(topic="weather"))
    await idle(flock)
    (error,) = events(sink, "agent_error")
    assert error.agent_name == "grump" and error.error_type == "OutputValidationError"
    assert "invalid Grumpy" in error.error_message
    assert "nothing is ever good enough" in error.error_message
    assert await flock.store.get_by_type(Grumpy) == []
    assert len(await flock.store.get_by_type(Essay)) == 1


async def test_lm_error_is_an_agent_error(flock, sink) -> None:
    """A provider that fails mid-stream, through DSPy's real LM path."""
    import dspy
    from dspy.lm15 import StreamDeltaEvent, StreamStartEvent, TextDelta

    from engine.dspy_engine import DSPyEngine

    class DyingEngine:
        def complete(self, request):
            raise ConnectionError("provider unreachable")

        def stream(self, request):
            raise ConnectionError("provider unreachable")

    class AsyncDyingEngine:
        async def complete(self, request):
            raise ConnectionError("provider unreachable")

        async def stream(self, request):
            yield StreamStartEvent(id="x", model="dying/model")
            yield StreamDeltaEvent(TextDelta("[[ ## title ## ]]\n"))
            yield StreamDeltaEvent(TextDelta("Half "))
            raise ConnectionError("provider unreachable")

    class DyingDSPyEngine(DSPyEngine):
        def lm_for(self, agent):  # noqa: ANN001
            return dspy.LM(
                "dying/model", engine=DyingEngine(), async_engine=AsyncDyingEngine(), cache=False
            )

    flock.agent("doomed").consumes(Topic).publishes(Essay).with_engine(DyingDSPyEngine())
    flock.agent("fine").consumes(Topic).publishes(Essay)
    await flock.publish(Topic(topic="storms"))
    await idle(flock)
    (error,) = events(sink, "agent_error")
    assert error.agent_name == "doomed" and error.run_id
    assert "provider unreachable" in error.error_message and "\n" not in error.error_message
    essays = await flock.store.get_artifacts_by_type(Essay)
    assert [a.produced_by for a in essays] == ["fine"]
    assert [c.agent_name for c in events(sink, "agent_completed")] == ["fine"]


async def test_blog_loop_ends_by_score(flock, sink) -> None:
    @flock_type
    class Draft(BaseModel):
        title: str
        body: str

    @flock_type
    class Critique(BaseModel):
        score: int = Field(ge=1, le=10)
        comments: str

    (
        flock.agent("author")
        .consumes(Topic)
        .consumes(Critique, where=lambda c: c.score <= 8)
        .publishes(Draft)
    )
    flock.agent("critic").consumes(Draft).publishes(Critique)
    await flock.publish(Topic(topic="gardening"))
    await idle(flock)
    scores = [c.score for c in await flock.store.get_by_type(Critique)]
    assert scores[-1] >= 9 and all(s <= 8 for s in scores[:-1])
    assert not [e for e in events(sink, "agent_error")]


def test_model_selection_offline_per_agent_and_provider_shared() -> None:
    from engine.dspy_engine import DSPyEngine

    flock = Flock(console=False)
    a = flock.agent("a").consumes(Topic).publishes(Essay).agent
    b = flock.agent("b").consumes(Topic).publishes(Essay).agent
    offline = DSPyEngine("offline")
    assert offline.lm_for(a) is offline.lm_for(a)
    assert offline.lm_for(a) is not offline.lm_for(b)  # each agent its own seed
    assert offline.lm_for(a).model == "offline/flock"
    provider = DSPyEngine("openai/gpt-4.1")
    assert provider.lm_for(a) is provider.lm_for(b)
    assert provider.lm_for(a).model == "openai/gpt-4.1"


async def test_concurrent_runs_of_one_agent_keep_their_streams_apart(flock, sink, monkeypatch):
    monkeypatch.setenv("FLOCK_OFFLINE_TPS", "400")
    flock.agent("w").consumes(Topic).publishes(Essay).max_concurrency(4)
    for topic in ("owls", "rivers", "trains", "bread"):
        await flock.publish(Topic(topic=topic))
    await idle(flock)
    text: dict[tuple[str, str], str] = {}
    order = []
    for e in events(sink, "streaming_output"):
        text[(e.run_id, e.field)] = text.get((e.run_id, e.field), "") + e.content
        order.append(e.run_id)
    published = [e for e in events(sink, "message_published") if e.run_id]
    assert len(published) == 4
    for p in published:
        for field in ("title", "body"):
            assert " ".join(text[(p.run_id, field)].split()) == " ".join(p.payload[field].split())
    assert sum(a != b for a, b in zip(order, order[1:], strict=False)) > 10


TOOL_ENTERED = threading.Event()
OTHER_STREAMED = threading.Event()
TOOL_SAW: list[tuple[bool, int]] = []


@flock_tool
def blocking_tool(query: str) -> str:
    """Look something up in a slow archive (blocks its thread)."""
    TOOL_ENTERED.set()
    # Blocks until the other agent has streamed; on the event loop it never could.
    TOOL_SAW.append((OTHER_STREAMED.wait(2.0), threading.get_ident()))
    time.sleep(0.5)
    return f"Slow facts about {query}."


class StreamsWhileTheToolRuns:
    """An agent engine that streams tokens as soon as the tool has started."""

    async def run(self, run: RunContext) -> list[BaseModel]:
        async def tool_started() -> None:
            while not TOOL_ENTERED.is_set():
                await asyncio.sleep(0.01)

        await asyncio.wait_for(tool_started(), 20)
        for i in range(5):
            run.stream(f"word{i} ", field="text")
            await asyncio.sleep(0)
        OTHER_STREAMED.set()
        run.stream("done", field="text", is_final=True)
        await asyncio.sleep(0.6)  # still running while the tool sleeps
        return [Note(text="streamed beside the tool")]


@flock_type
class Note(BaseModel):
    text: str


async def test_a_blocking_sync_tool_does_not_freeze_the_other_agents(flock, sink) -> None:
    TOOL_ENTERED.clear()
    OTHER_STREAMED.clear()
    TOOL_SAW.clear()
    flock.agent("slow_researcher").consumes(Topic).publishes(Essay).with_tools([blocking_tool])
    flock.agent("chatty").consumes(Topic).publishes(Note).with_engine(StreamsWhileTheToolRuns())
    stalls: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = loop.time()
            stalls.append(now - last - 0.01)
            last = now

    ticking = asyncio.create_task(ticker())
    await flock.publish(Topic(topic="glaciers"))
    await idle(flock)
    stop.set()
    await ticking
    assert events(sink, "agent_error") == []
    assert TOOL_SAW, "the offline model must call the offered tool"
    saw_stream, thread_id = TOOL_SAW[0]
    assert saw_stream, "the other agent streamed while the sync tool was blocked"
    assert thread_id != threading.get_ident(), "a sync tool runs off the event loop"
    # Behaviour check with a wide margin (the tool blocks 0.5 s; on the loop it would stall
    # for at least that long).
    assert max(stalls) < 0.35
    assert len(await flock.store.get_by_type(Essay)) == 1
