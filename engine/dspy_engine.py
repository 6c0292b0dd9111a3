"""The DSPy engine: pydantic types in, a DSPy signature, streamed fields out.

Per run: a signature built from the consumed and published types (every field of the
published type becomes its own output field, so each `str` field streams through its
own StreamListener), a FRESH `dspy.streamify` with fresh listeners, and ChatAdapter.
StreamResponse chunks become `llm_token` events, StatusMessages (tool calls, via
`dspy.ReAct`) become `status` events; the final Prediction is reassembled into the
published type and validated. Nothing here draws anything.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import os
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from engine.errors import ToolError, invalid_output, one_line
from engine.registry import tool_name, type_name

if TYPE_CHECKING:
    import dspy

    from engine.agent import Agent
    from engine.artifacts import Artifact
    from engine.context import RunContext

OFFLINE_MODEL = "offline"
REACT_MAX_ITERS = 6
THOUGHT_FIELD = "thought"  # the `field` of streamed ReAct thoughts (not part of any artifact)

_CONSTRAINTS: dict[type, tuple[str, str]] = {
    annotated_types.Ge: ("ge", "ge"),
    annotated_types.Gt: ("gt", "gt"),
    annotated_types.Le: ("le", "le"),
    annotated_types.Lt: ("lt", "lt"),
    annotated_types.MinLen: ("min_length", "min_length"),
    annotated_types.MaxLen: ("max_length", "max_length"),
    annotated_types.MultipleOf: ("multiple_of", "multiple_of"),
}


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class OutputSlot:
    """One signature output field and where its value goes."""

    signature_field: str
    model: type[BaseModel]
    model_field: str
    streams: bool


@dataclass
class SignaturePlan:
    signature: type[dspy.Signature]
    inputs: dict[str, Any]
    outputs: list[OutputSlot]

    @property
    def streamed_fields(self) -> list[str]:
        return [slot.signature_field for slot in self.outputs if slot.streams]


def _constraint_kwargs(info: FieldInfo) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for meta in info.metadata:
        for cls, (attr, key) in _CONSTRAINTS.items():
            if isinstance(meta, cls):
                kwargs[key] = getattr(meta, attr)
    return kwargs


def _describe_model(model: type[BaseModel]) -> str:
    doc = inspect.cleandoc(model.__doc__ or "") if model.__doc__ else ""
    return f"{model.__name__}: {doc}" if doc else model.__name__


def build_signature(agent: Agent, inputs: list[Artifact]) -> SignaturePlan:
    """The DSPy signature for one run of `agent` on `inputs`."""
    import dspy

    grouped: dict[str, list[Artifact]] = {}
    for artifact in inputs:
        grouped.setdefault(artifact.type, []).append(artifact)

    multi = len(agent.publishes) > 1
    outputs: list[OutputSlot] = []
    fields: dict[str, tuple[Any, Any]] = {}
    output_names: set[str] = set()
    for model in agent.publishes:
        prefix = f"{snake(type_name(model))}_" if multi else ""
        for name in model.model_fields:
            output_names.add(prefix + name)

    input_values: dict[str, Any] = {}
    for tname, artifacts in grouped.items():
        model_cls = type(artifacts[0].to_model())
        name = snake(tname)
        if len(artifacts) > 1:
            name += "_list"
        if name in output_names:
            name = f"input_{name}"
        desc = _describe_model(model_cls)
        if len(artifacts) > 1:
            fields[name] = (list[model_cls], dspy.InputField(desc=f"{len(artifacts)} x {desc}"))  # type: ignore[valid-type]
            input_values[name] = [a.to_model() for a in artifacts]
        else:
            fields[name] = (model_cls, dspy.InputField(desc=desc))
            input_values[name] = artifacts[0].to_model()

    for model in agent.publishes:
        prefix = f"{snake(type_name(model))}_" if multi else ""
        for name, info in model.model_fields.items():
            annotation = info.annotation
            desc = info.description or f"the {name} of the {model.__name__}"
            fields[prefix + name] = (
                annotation,
                dspy.OutputField(desc=desc, **_constraint_kwargs(info)),
            )
            outputs.append(OutputSlot(prefix + name, model, name, annotation is str))

    published = ", ".join(_describe_model(m) for m in agent.publishes) or "nothing"
    consumed = ", ".join(grouped) or "its input"
    instructions = (
        f"You are the agent `{agent.name}`. {agent.description}".strip()
        + f"\nRead {consumed} and produce {published}."
    )
    signature = dspy.Signature(fields, instructions)  # type: ignore[arg-type]
    return SignaturePlan(signature=signature, inputs=input_values, outputs=outputs)


def assemble(agent: Agent, plan: SignaturePlan, values: dict[str, Any]) -> list[BaseModel]:
    """Rebuild and validate the published objects from the prediction's fields."""
    results: list[BaseModel] = []
    for model in agent.publishes:
        data = {
            s.model_field: values.get(s.signature_field) for s in plan.outputs if s.model is model
        }
        try:
            results.append(model.model_validate(data))
        except ValidationError as exc:
            raise invalid_output(agent.name, model, exc) from None
    return results


def _short(value: Any, limit: int = 160) -> str:
    try:
        text = (
            value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        )
    except Exception:
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _status_provider() -> Any:
    from dspy.streaming.messages import StatusMessageProvider

    class ToolStatus(StatusMessageProvider):
        def tool_start_status_message(self, instance: Any, inputs: dict[str, Any]) -> str:
            args = inputs.get("kwargs", inputs)
            return f"calling tool {instance.name}({_short(args, 120)})"

        def tool_end_status_message(self, outputs: Any) -> str:
            return f"tool returned: {_short(outputs)}"

    return ToolStatus()


def _wrap_tool(func: Callable[..., Any], errors: list[tuple[str, BaseException]]) -> Any:
    """An async dspy.Tool that records exceptions (ReAct would otherwise swallow them).

    A synchronous tool runs in a worker thread (asyncio.to_thread): ReAct's async path
    (`Tool.acall`) would otherwise call it right on the event loop, and a tool that
    sleeps or blocks on I/O would freeze every other agent's stream meanwhile.
    """
    import dspy

    if isinstance(func, dspy.Tool):
        name, inner, desc = func.name, func.func, func.desc
    else:
        name, inner, desc = tool_name(func), func, None

    if inspect.iscoroutinefunction(inner):

        @functools.wraps(inner)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await inner(*args, **kwargs)
            except Exception as exc:
                errors.append((name, exc))
                raise

        wrapper: Callable[..., Any] = async_wrapper
    else:

        @functools.wraps(inner)
        async def threaded_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await asyncio.to_thread(inner, *args, **kwargs)
            except Exception as exc:
                errors.append((name, exc))
                raise

        wrapper = threaded_wrapper
    return dspy.Tool(wrapper, name=name, desc=desc)


class DSPyEngine:
    """Runs agents through DSPy with the offline model or a real provider."""

    def __init__(self, model: str = OFFLINE_MODEL) -> None:
        self.model = model
        self._lms: dict[str, dspy.LM] = {}

    def lm_for(self, agent: Agent) -> dspy.LM:
        """One LM per agent for the offline model (its own seed), one per model name otherwise."""
        model = agent.model or self.model
        key = f"offline:{agent.name}" if model == OFFLINE_MODEL else model
        lm = self._lms.get(key)
        if lm is None:
            if model == OFFLINE_MODEL:
                from engine.offline import make_offline_lm

                lm = make_offline_lm(seed=zlib.crc32(agent.name.encode()))
            else:
                import dspy

                os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
                lm = dspy.LM(model)
            self._lms[key] = lm
        return lm

    async def run(self, run: RunContext) -> list[BaseModel]:
        import dspy
        from dspy.streaming import StatusMessage, StreamListener, StreamResponse

        agent = run.agent
        if not agent.publishes:
            return []
        plan = build_signature(agent, run.inputs)
        tool_errors: list[tuple[str, BaseException]] = []
        if agent.tools:
            tools = [_wrap_tool(t, tool_errors) for t in agent.tools]
            program: dspy.Module = dspy.ReAct(
                plan.signature, tools=tools, max_iters=REACT_MAX_ITERS
            )
            target = program.extract.predict  # type: ignore[attr-defined]
        else:
            program = dspy.Predict(plan.signature)
            target = program
        listeners = [
            StreamListener(signature_field_name=name, predict=target, predict_name="predict")
            for name in plan.streamed_fields
        ]
        if agent.tools:
            # ReAct's thoughts stream too (once per step), so a tool-using agent is never silent.
            listeners.append(
                StreamListener(
                    signature_field_name="next_thought",
                    predict=program.react,  # type: ignore[attr-defined]
                    predict_name="react",
                    allow_reuse=True,
                )
            )
        streamer = dspy.streamify(
            program,
            status_message_provider=_status_provider(),
            stream_listeners=listeners,
            is_async_program=True,
        )
        streamed: dict[str, bool] = {}  # field -> final chunk sent
        prediction: dspy.Prediction | None = None
        tokens = 0
        adapter = dspy.ChatAdapter(use_json_adapter_fallback=False)
        with dspy.context(lm=self.lm_for(agent), adapter=adapter):
            async for item in streamer(**plan.inputs):
                if isinstance(item, StreamResponse):
                    if item.chunk:
                        tokens += 1
                    if item.predict_name == "react":
                        run.stream(item.chunk, field=THOUGHT_FIELD, is_final=item.is_last_chunk)
                        continue
                    run.stream(
                        item.chunk, field=item.signature_field_name, is_final=item.is_last_chunk
                    )
                    streamed[item.signature_field_name] = (
                        streamed.get(item.signature_field_name, False) or item.is_last_chunk
                    )
                elif isinstance(item, StatusMessage):
                    run.stream(item.message, output_type="status")
                elif isinstance(item, dspy.Prediction):
                    prediction = item
        if prediction is None:
            raise RuntimeError(f"{agent.name}: the model returned no prediction")
        values = {
            slot.signature_field: prediction.get(slot.signature_field) for slot in plan.outputs
        }
        for name in plan.streamed_fields:
            if not streamed.get(name):
                # A cache hit or a one-chunk answer streams nothing: close the field anyway.
                text = "" if name in streamed else str(values.get(name) or "")
                tokens += 1 if text else 0
                run.stream(text, field=name, is_final=True)
        run.metrics["tokens"] = tokens
        if tool_errors:
            name, exc = tool_errors[0]
            raise ToolError(f"tool {name} raised {type(exc).__name__}: {one_line(exc)}") from exc
        return assemble(agent, plan, values)
