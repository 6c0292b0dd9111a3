"""dspy.ReAct with real Python tools, answered by the offline model through streamify."""

from __future__ import annotations

import asyncio
from typing import Literal

import dspy
from dspy.streaming import StatusMessage, StreamListener, StreamResponse
from pydantic import BaseModel, Field

from engine.offline import make_offline_lm


class Forecast(BaseModel):
    city: str
    days: int = Field(ge=1, le=7)


async def _run_react(tools: list, seed: int, question: str) -> tuple[dspy.Prediction, list, list]:
    react = dspy.ReAct("question -> answer", tools=tools, max_iters=6)
    program = dspy.streamify(
        react,
        stream_listeners=[StreamListener(signature_field_name="answer")],
        is_async_program=True,
    )
    statuses: list[str] = []
    answer_chunks: list[str] = []
    prediction = None
    with dspy.context(lm=make_offline_lm(seed=seed), adapter=dspy.ChatAdapter()):
        async for item in program(question=question):
            if isinstance(item, StatusMessage):
                statuses.append(item.message)
            elif isinstance(item, StreamResponse):
                answer_chunks.append(item.chunk)
            elif isinstance(item, dspy.Prediction):
                prediction = item
    assert prediction is not None
    return prediction, statuses, answer_chunks


async def test_react_calls_a_real_tool_with_fitting_args_then_finishes():
    calls: list[tuple[str, int]] = []

    def get_weather(city: str, days: int = 1) -> str:
        """Get the weather forecast for a city."""
        assert isinstance(city, str) and city
        assert isinstance(days, int)
        calls.append((city, days))
        return f"It is sunny in {city} for {days} day(s)."

    prediction, statuses, chunks = await asyncio.wait_for(
        _run_react([get_weather], seed=0, question="What is the weather in Tokyo this weekend?"), 30
    )
    trajectory = prediction.trajectory
    assert trajectory["tool_name_0"] == "get_weather", "first step must use the real tool"
    assert calls, "the Python tool was really called"
    assert trajectory["observation_0"].startswith("It is sunny")
    last = max(int(k.rsplit("_", 1)[1]) for k in trajectory if k.startswith("tool_name_"))
    assert trajectory[f"tool_name_{last}"] == "finish"
    assert any("get_weather" in s for s in statuses)
    assert len(chunks) > 3 and "".join(chunks).strip() == prediction.answer.strip()
    assert "Tokyo" in calls[0][0] or "weather" in calls[0][0].lower()


async def test_react_args_fit_typed_parameters_for_every_tool():
    seen: dict[str, dict] = {}

    def plan_trip(
        destination: str, nights: int, budget: float, mode: Literal["train", "plane"]
    ) -> str:
        """Plan a trip."""
        seen["plan_trip"] = {
            "destination": destination,
            "nights": nights,
            "budget": budget,
            "mode": mode,
        }
        return "planned"

    def forecast(request: Forecast) -> str:
        """Forecast the weather."""
        seen["forecast"] = request.model_dump()
        return f"{request.city}: mild"

    def tag(labels: list[str], urgent: bool) -> str:
        """Tag the request."""
        seen["tag"] = {"labels": labels, "urgent": urgent}
        return "tagged"

    tools = [plan_trip, forecast, tag]
    for seed in range(6):
        prediction, _, _ = await asyncio.wait_for(
            _run_react(tools, seed=seed, question="A long weekend in Lisbon by train"), 30
        )
        trajectory = prediction.trajectory
        assert trajectory["tool_name_0"] != "finish"
        observations = [v for k, v in trajectory.items() if k.startswith("observation_")]
        assert not any(str(o).startswith("Execution error") for o in observations), observations
    assert set(seen) == {"plan_trip", "forecast", "tag"}, "seeds rotate over the offered tools"
    assert seen["plan_trip"]["mode"] in ("train", "plane")
    assert isinstance(seen["plan_trip"]["nights"], int)
    assert 1 <= seen["forecast"]["days"] <= 7
    assert all(isinstance(label, str) for label in seen["tag"]["labels"])


async def test_react_without_real_tools_finishes_at_once():
    prediction, _, _ = await asyncio.wait_for(_run_react([], seed=3, question="Say hello"), 30)
    assert prediction.trajectory["tool_name_0"] == "finish"
    assert prediction.answer


def test_tool_lines_are_parsed_even_with_non_literal_defaults():
    from engine.offline.react import parse_tools

    tools = parse_tools(
        "(1) lookup, whose description is <desc>Find it.</desc>. It takes arguments "
        "{'city': {'type': 'string'}, 'when': {'type': 'string', 'default': <object at 0x1>}}.\n"
        "(2) finish, whose description is <desc>Done.</desc>. It takes arguments {}."
    )
    assert list(tools) == ["lookup", "finish"]
    assert tools["lookup"].args == {"city": {"type": "string"}, "when": {"type": "string"}}
    assert tools["lookup"].description == "Find it."
