"""The announcement of a run (engine.announcer) and the house rule on module size."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel

import engine
from engine import Flock, ListSink, flock_type
from engine.announcer import Announcer
from engine.bus import EventBus

from .conftest import FakeEngine

ENGINE_DIR = Path(engine.__file__).resolve().parent
MAX_MODULE_LINES = 500


@flock_type
class Question(BaseModel):
    text: str = "?"


@flock_type
class Answer(BaseModel):
    text: str = "!"


def _kinds(sink: ListSink) -> list[str]:
    return [
        e.event_type if e.event_type != "agent_registered" else f"registered:{e.data['name']}"
        for e in sink.envelopes
    ]


def test_engine_modules_stay_under_the_house_limit() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in ENGINE_DIR.glob("*.py")}
    too_big = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_big, f"modules over {MAX_MODULE_LINES} lines: {too_big}"


async def test_announcer_announces_once_then_only_changes() -> None:
    sink = ListSink()
    flock = Flock(console=False)
    flock.add_sink(sink)
    bus = EventBus()
    bus.add_sink(sink)
    announcer = Announcer(bus, flock)
    assert not announcer.started
    flock.agent("asker").consumes(Answer).publishes(Question)
    announcer.ensure_started()
    announcer.ensure_started()  # nothing changed: nothing new
    assert _kinds(sink) == ["run_started", "registered:asker"]
    assert announcer.started
    # After start, a builder chain is announced once, on the next loop iteration.
    announcer.changed()
    announcer.changed()
    assert _kinds(sink) == ["run_started", "registered:asker"]
    await asyncio.sleep(0)
    assert _kinds(sink) == ["run_started", "registered:asker"]  # unchanged agent: no repeat
    flock.agent("answerer").consumes(Question).publishes(Answer).with_engine(
        FakeEngine(lambda run: [Answer()])
    )
    announcer.changed()
    await asyncio.sleep(0)
    assert _kinds(sink)[-1] == "registered:answerer"
    assert _kinds(sink).count("registered:answerer") == 1


async def test_flock_announces_through_its_announcer_before_the_first_event() -> None:
    sink = ListSink()
    flock = Flock(console=False)
    flock.add_sink(sink)
    flock.agent("answerer").consumes(Question).publishes(Answer).with_engine(
        FakeEngine(lambda run: [Answer()])
    )
    assert sink.envelopes == []  # nothing before first use
    await flock.publish(Question())
    await asyncio.wait_for(flock.run_until_idle(), 10)
    kinds = _kinds(sink)
    assert kinds[:3] == ["run_started", "registered:answerer", "message_published"]
    assert kinds.count("run_started") == 1
