"""Orchestration logic: subscriptions, predicates, gates, loops, concurrency, errors."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel, Field

from engine import Flock, PublishError, RunContext, flock_type

from .conftest import FakeEngine, events, idle


@flock_type
class Ping(BaseModel):
    n: int = 0


@flock_type
class Pong(BaseModel):
    n: int = 0


@flock_type
class Left(BaseModel):
    text: str = "l"


@flock_type
class Right(BaseModel):
    text: str = "r"


@flock_type
class Joined(BaseModel):
    parts: list[str]


def echo(out: type[BaseModel]) -> FakeEngine:
    def behaviour(run: RunContext) -> list[BaseModel]:
        n = getattr(run.inputs[0].to_model(), "n", 0)
        return [out(n=n + 1)] if "n" in out.model_fields else [out()]

    return FakeEngine(behaviour)


async def test_agent_runs_only_on_subscribed_type(flock, sink) -> None:
    engine = echo(Pong)
    flock.agent("a").consumes(Ping).publishes(Pong).with_engine(engine)
    await flock.publish(Pong())
    await idle(flock)
    assert engine.calls == []
    await flock.publish(Ping())
    await idle(flock)
    assert len(engine.calls) == 1
    assert [p.n for p in await flock.store.get_by_type(Pong)] == [0, 1]


async def test_several_consumes_are_or(flock) -> None:
    engine = FakeEngine(lambda run: [])
    flock.agent("a").consumes(Ping).consumes(Pong).publishes(Joined).with_engine(engine)
    await flock.publish(Ping())
    await flock.publish(Pong())
    await idle(flock)
    assert sorted(c.inputs[0].type for c in engine.calls) == ["Ping", "Pong"]


async def test_where_predicate_filters(flock) -> None:
    engine = FakeEngine(lambda run: [])
    flock.agent("a").consumes(Ping, where=lambda p: p.n >= 5).publishes(Pong).with_engine(engine)
    await flock.publish_many([Ping(n=1), Ping(n=5), Ping(n=9)])
    await idle(flock)
    assert sorted(c.inputs[0].to_model().n for c in engine.calls) == [5, 9]


async def test_and_gate_joins_one_of_each_within_a_correlation_id(flock, sink) -> None:
    def join(run: RunContext) -> list[BaseModel]:
        return [Joined(parts=[a.to_model().text for a in run.inputs])]

    engine = FakeEngine(join)
    flock.agent("joiner").consumes(Left, Right).publishes(Joined).with_engine(engine)
    await flock.publish(Left(text="l1"), correlation_id="c1")
    await flock.publish(Right(text="r2"), correlation_id="c2")
    await idle(flock)
    assert engine.calls == []  # different correlation ids never join
    await flock.publish(Right(text="r1"), correlation_id="c1")
    await idle(flock)
    assert len(engine.calls) == 1
    assert (await flock.store.get_by_type(Joined))[0].parts == ["l1", "r1"]
    await flock.publish(Left(text="l2"), correlation_id="c2")
    await idle(flock)
    joined = await flock.store.get_by_type(Joined)
    assert [j.parts for j in joined] == [["l1", "r1"], ["l2", "r2"]]
    activated = events(sink, "agent_activated")
    assert all(sorted(a.consumed_types) == ["Left", "Right"] for a in activated)


async def test_batch_waits_for_n_artifacts(flock) -> None:
    engine = FakeEngine(lambda run: [])
    flock.agent("editor").consumes(Ping, batch=3).publishes(Pong).with_engine(engine)
    await flock.publish_many([Ping(n=1), Ping(n=2)], correlation_id="x")
    await idle(flock)
    assert engine.calls == []
    await flock.publish(Ping(n=3), correlation_id="x")
    await idle(flock)
    assert [len(c.inputs) for c in engine.calls] == [3]


async def test_feedback_loop_ends_by_circuit_breaker(flock, sink) -> None:
    ping_engine, pong_engine = echo(Pong), echo(Ping)
    flock.agent("pinger").consumes(Ping).publishes(Pong).with_engine(ping_engine)
    flock.agent("ponger").consumes(Pong).publishes(Ping).with_engine(pong_engine).max_iterations(3)
    await flock.publish(Ping())
    await idle(flock)
    assert len(pong_engine.calls) == 3
    assert len(ping_engine.calls) == 4  # default max_iterations is 5, ponger stops first
    breaker = [e for e in events(sink, "agent_error") if e.error_type == "CircuitBreakerOpen"]
    assert [e.agent_name for e in breaker] == ["ponger"]


async def test_default_circuit_breaker_is_five_per_correlation_id(flock) -> None:
    engine = echo(Ping)
    flock.agent("loop").consumes(Ping).publishes(Ping).prevent_self_trigger(False).with_engine(
        engine
    )
    await flock.publish(Ping())
    await idle(flock)
    assert len(engine.calls) == 5
    await flock.publish(Ping())  # a new correlation id gets a fresh budget
    await idle(flock)
    assert len(engine.calls) == 10


async def test_no_self_trigger_by_default(flock) -> None:
    engine = echo(Ping)
    flock.agent("selfish").consumes(Ping).publishes(Ping).with_engine(engine)
    await flock.publish(Ping())
    await idle(flock)
    assert len(engine.calls) == 1


@pytest.mark.parametrize("limit", [None, 3])
async def test_max_concurrency_caps_parallel_runs(flock, sink, limit) -> None:
    release = asyncio.Event()
    started = 0

    async def slow(run: RunContext) -> list[BaseModel]:
        nonlocal started
        started += 1
        await release.wait()
        return []

    engine = FakeEngine(slow)
    builder = flock.agent("worker").consumes(Ping).publishes(Pong).with_engine(engine)
    if limit:
        builder.max_concurrency(limit)
    expected = limit or 2
    for i in range(7):
        await flock.publish(Ping(n=i))

    async def until_started(n: int) -> None:
        while started < n:
            await asyncio.sleep(0)

    await asyncio.wait_for(until_started(expected), 10)
    for _ in range(50):  # give any extra run every chance to start
        await asyncio.sleep(0)
    assert engine.running == expected
    # every run is announced at once: the ones waiting for a slot show as queued
    assert len(events(sink, "agent_activated")) == 7
    release.set()
    await idle(flock)
    assert engine.peak == expected
    assert len(engine.calls) == 7


async def test_one_failing_agent_does_not_stop_the_others(flock, sink) -> None:
    def boom(run: RunContext) -> list[BaseModel]:
        raise RuntimeError("model exploded")

    good = echo(Pong)
    flock.agent("bad").consumes(Ping).publishes(Pong).with_engine(FakeEngine(boom))
    flock.agent("good").consumes(Ping).publishes(Pong).with_engine(good)
    await flock.publish(Ping())
    await idle(flock)
    errors = events(sink, "agent_error")
    assert [(e.agent_name, e.error_type, e.error_message) for e in errors] == [
        ("bad", "RuntimeError", "model exploded")
    ]
    assert errors[0].run_id and "RuntimeError" in errors[0].traceback
    assert [c.agent_name for c in events(sink, "agent_completed")] == ["good"]
    assert len(await flock.store.get_by_type(Pong)) == 1


async def test_raising_where_predicate_is_reported_and_others_go_on(flock, sink) -> None:
    def bad_predicate(p: Ping) -> bool:
        raise ZeroDivisionError("division by zero")

    picky, fine = FakeEngine(lambda r: []), FakeEngine(lambda r: [])
    flock.agent("picky").consumes(Ping, where=bad_predicate).publishes(Pong).with_engine(picky)
    flock.agent("fine").consumes(Ping).publishes(Pong).with_engine(fine)
    await flock.publish(Ping())
    await idle(flock)
    assert picky.calls == [] and len(fine.calls) == 1
    (error,) = events(sink, "agent_error")
    assert error.agent_name == "picky" and error.error_type == "WherePredicateError"
    assert "ZeroDivisionError" in error.error_message and "\n" not in error.error_message


@flock_type
class Bounded(BaseModel):
    n: int = Field(default=1, le=3)


async def test_outputs_are_validated_whatever_engine_made_them(flock, sink) -> None:
    """model_copy(update=...) skips validation, and an engine may return a type the agent
    does not publish: both are agent errors, nothing is published, the others go on."""
    flock.agent("sneaky").consumes(Ping).publishes(Bounded).with_engine(
        FakeEngine(lambda r: [Bounded().model_copy(update={"n": 99})])
    )
    flock.agent("stray").consumes(Ping).publishes(Pong).with_engine(
        FakeEngine(lambda r: [Joined(parts=["x"])])
    )
    flock.agent("fine").consumes(Ping).publishes(Bounded).with_engine(
        FakeEngine(lambda r: [Bounded(n=2)])
    )
    await flock.publish(Ping())
    await idle(flock)
    errors = {e.agent_name: e for e in events(sink, "agent_error")}
    assert errors["sneaky"].error_type == "OutputValidationError"
    assert "sneaky produced an invalid Bounded: n: " in errors["sneaky"].error_message
    assert errors["stray"].error_type == "OutputValidationError"
    assert (
        errors["stray"].error_message == "stray produced Joined, which it does not publish (Pong)"
    )
    assert [b.n for b in await flock.store.get_by_type(Bounded)] == [2]
    assert await flock.store.get_by_type(Joined) == []


async def test_correlation_id_flows_from_inputs_to_outputs(flock, sink) -> None:
    flock.agent("a").consumes(Ping).publishes(Pong).with_engine(echo(Pong))
    flock.agent("b").consumes(Pong).publishes(Joined).with_engine(
        FakeEngine(lambda r: [Joined(parts=[])])
    )
    artifact = await flock.publish(Ping())
    await idle(flock)
    everything = await flock.store.list()
    assert len(everything) == 3
    assert {a.correlation_id for a in everything} == {artifact.correlation_id}
    run_events = [
        e
        for e in sink.envelopes
        if e.event_type in ("agent_activated", "message_published", "agent_completed")
    ]
    assert {e.correlation_id for e in run_events} == {artifact.correlation_id}
    produced = {a.type: a.produced_by for a in everything}
    assert produced == {"Ping": "external", "Pong": "a", "Joined": "b"}


async def test_run_until_idle_returns_with_nothing_to_do(flock) -> None:
    await idle(flock, timeout=5)


async def test_publish_rejects_non_pydantic_objects(flock) -> None:
    with pytest.raises(TypeError, match=r"got dict$"):
        await flock.publish({"topic": "cats"})
    with pytest.raises(TypeError, match="got int"):
        await flock.publish_many([Ping(), 3])
    assert len(flock.store) == 0


async def test_publish_json_validates(flock) -> None:
    artifact = await flock.publish_json("Ping", {"n": 4})
    assert artifact.payload == {"n": 4}
    with pytest.raises(PublishError, match="unknown artifact type 'Nope'"):
        await flock.publish_json("Nope", {})
    with pytest.raises(PublishError, match=r"invalid Ping: n: "):
        await flock.publish_json("Ping", {"n": "many"})
    assert "Ping" in flock.registered_types()


def _notices(sink) -> list[tuple[str, str]]:
    return [(e.data["level"], e.data["text"]) for e in sink.envelopes if e.event_type == "notice"]


async def test_unconsumed_type_is_stored_with_a_notice_event(flock, sink) -> None:
    await flock.publish(Joined(parts=["x"]))
    await flock.publish(Joined(parts=["y"]))
    await idle(flock)
    assert [j.parts for j in await flock.store.get_by_type(Joined)] == [["x"], ["y"]]
    # once per type, as an event every sink gets (the pipe, a record, the dashboard)
    assert _notices(sink) == [
        ("warning", "no agent consumes Joined; it is stored on the blackboard")
    ]


async def test_lifecycle_events_in_order(flock, sink) -> None:
    flock.agent("a").description("echo").consumes(Ping).publishes(Pong).with_engine(echo(Pong))
    await flock.publish(Ping())
    await idle(flock)
    types = [e.event_type for e in sink.envelopes]
    assert types == [
        "run_started",
        "agent_registered",
        "message_published",
        "agent_activated",
        "message_published",
        "agent_completed",
    ]
    seqs = [e.seq for e in sink.envelopes]
    assert seqs == sorted(set(seqs))
    started = sink.envelopes[0].payload()
    assert started.runtime_mode == "cli" and started.model == "offline" and started.pid
    registered = sink.envelopes[1].payload()
    assert (registered.name, registered.consumes, registered.publishes) == ("a", ["Ping"], ["Pong"])
    activated = events(sink, "agent_activated")[0]
    assert activated.iteration == 1 and activated.produced_types == ["Pong"]


async def test_agent_added_later_is_announced(flock, sink) -> None:
    flock.agent("a").consumes(Ping).publishes(Pong).with_engine(echo(Pong))
    await flock.publish(Ping())
    await idle(flock)
    flock.agent("late").consumes(Pong).publishes(Joined).with_engine(FakeEngine(lambda r: []))
    await asyncio.sleep(0)
    late = [e for e in events(sink, "agent_registered") if e.name == "late"]
    assert len(late) == 1 and late[0].consumes == ["Pong"] and late[0].publishes == ["Joined"]


async def test_invoke_runs_one_agent_directly(flock) -> None:
    builder = flock.agent("a").publishes(Pong).with_engine(echo(Pong))
    outputs = await flock.invoke(builder, Ping(n=41))
    assert [a.to_model().n for a in outputs] == [42]
    assert outputs[0].produced_by == "a"
    assert [p.n for p in await flock.store.get_by_type(Pong)] == [42]


async def test_runtime_mode_is_cli_and_only_the_orchestrator_sets_it(flock) -> None:
    assert flock.context.runtime_mode == "cli"
    with pytest.raises(AttributeError):
        flock.context.runtime_mode = "api"  # type: ignore[misc]


def test_model_choice(monkeypatch) -> None:
    monkeypatch.delenv("DEFAULT_MODEL", raising=False)
    assert Flock(console=False).model == "offline"
    monkeypatch.setenv("DEFAULT_MODEL", "openai/gpt-4.1")
    assert Flock(console=False).model == "openai/gpt-4.1"
    assert Flock("anthropic/claude", console=False).model == "anthropic/claude"


async def test_serve_sets_the_runtime_mode_and_delegates(flock, sink, monkeypatch) -> None:
    import sys
    import types

    calls: list[tuple] = []

    async def serve(f, **kw) -> str:
        calls.append((f, kw))
        return "served"

    fake = types.ModuleType("engine.serving")
    fake.serve = serve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "engine.serving", fake)
    import engine

    monkeypatch.setattr(engine, "serving", fake, raising=False)
    assert await flock.serve(dashboard=True, port=9999) == "served"
    assert flock.context.runtime_mode == "dashboard"
    assert calls == [(flock, {"dashboard": True, "host": "127.0.0.1", "port": 9999, "token": None})]
    (started,) = events(sink, "run_started")
    assert started.runtime_mode == "dashboard"
    other = Flock(console=False)
    await other.serve()
    assert other.context.runtime_mode == "api"


async def test_waiting_gate_is_noticed_at_idle(flock, sink) -> None:
    flock.agent("judge").consumes(Left, Right).publishes(Joined).with_engine(
        FakeEngine(lambda r: [])
    )
    await flock.publish(Left())
    await idle(flock)
    await idle(flock)
    assert _notices(sink) == [("warning", "judge is still waiting for Right to join Left")]


def test_bad_event_fd_falls_back_to_the_console(monkeypatch, capsys) -> None:
    import engine.sinks

    monkeypatch.setattr(engine.sinks, "_env_sink", None)
    monkeypatch.setenv("FLOCK_TUI_EVENT_FD", "987654")
    f = Flock()
    err = capsys.readouterr().err
    assert err.startswith("flock: FLOCK_TUI_EVENT_FD='987654' is not an open file descriptor")
    assert err.count("\n") == 1
    from engine.console import ConsoleSink

    assert any(isinstance(s, ConsoleSink) for s in f._bus.sinks)


def test_a_flock_survives_several_asyncio_runs(sink) -> None:
    flock = Flock(console=False)
    flock.add_sink(sink)

    async def slow(run: RunContext) -> list[BaseModel]:
        await asyncio.sleep(0)
        return []

    flock.agent("w").consumes(Ping).publishes(Pong).max_concurrency(1).with_engine(FakeEngine(slow))

    async def once() -> None:
        await flock.publish_many([Ping(), Ping(), Ping()])
        await idle(flock)

    asyncio.run(once())
    asyncio.run(once())
    assert len(events(sink, "agent_completed")) == 6


async def test_from_agents_filters_by_producer(flock) -> None:
    flock.agent("maker").consumes(Ping).publishes(Pong).with_engine(echo(Pong))
    picky = FakeEngine(lambda r: [])
    flock.agent("picky").consumes(Pong, from_agents=["maker"]).publishes(Joined).with_engine(picky)
    await flock.publish(Pong(n=100))  # external: ignored by picky
    await flock.publish(Ping(n=1))
    await idle(flock)
    assert [c.inputs[0].produced_by for c in picky.calls] == ["maker"]


def test_builder_rejects_bad_arguments(flock) -> None:
    builder = flock.agent("x")
    with pytest.raises(TypeError, match="pydantic model classes, got 'Ping'"):
        builder.consumes("Ping")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="at least one"):
        builder.consumes()
    with pytest.raises(ValueError, match="max_concurrency"):
        builder.max_concurrency(0)
    with pytest.raises(ValueError, match="already exists"):
        flock.agent("x")
