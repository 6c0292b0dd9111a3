"""Flock: the blackboard orchestrator.

Artifacts published to the blackboard wake the agents subscribed to their type; each
agent run becomes an asyncio task (at most `max_concurrency` per agent run at once),
and `run_until_idle()` wakes when the last task finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import traceback
import uuid
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.agent import Agent, AgentBuilder, AgentEngine
from engine.announcer import Announcer
from engine.artifacts import Artifact, new_id
from engine.bus import EventBus
from engine.context import Context, RunContext
from engine.errors import CircuitBreakerOpen, PublishError, one_line
from engine.events import (
    AgentActivated,
    AgentCompleted,
    AgentError,
    MessagePublished,
    StreamingOutput,
)
from engine.registry import get_type, register_type, registered_types, type_name
from engine.sinks import EventSink, env_event_sink
from engine.store import BlackboardStore

log = logging.getLogger("engine")

OFFLINE_MODEL = "offline"


class Flock:
    """A blackboard of typed artifacts and the agents that consume and publish them."""

    def __init__(
        self,
        model: str | None = None,
        *,
        name: str = "flock",
        console: bool | None = None,
    ) -> None:
        self.name = name
        self.model = model or os.environ.get("DEFAULT_MODEL") or OFFLINE_MODEL
        self._bus = EventBus()
        self.context = Context(session_id=self._bus.session_id, model=self.model)
        self.store = BlackboardStore()
        self._agents: dict[str, Agent] = {}
        self._announcer = Announcer(self._bus, self)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._semaphores: dict[tuple[str, int, int], asyncio.Semaphore] = {}
        self._unconsumed_noticed: set[str] = set()
        self._gate_noticed: set[tuple[object, ...]] = set()
        self._default_engine: AgentEngine | None = None
        self._shared_sinks: set[int] = set()

        event_sink = env_event_sink()
        if event_sink is not None:
            self._shared_sinks.add(id(event_sink))
            self._bus.add_sink(event_sink)
        elif console is not False:
            from engine.console import ConsoleSink

            self._bus.add_sink(ConsoleSink())
        control_fd = os.environ.get("FLOCK_TUI_CONTROL_FD")
        if control_fd:
            self._attach_control(control_fd)

    def _attach_control(self, raw_fd: str) -> None:
        try:
            from engine import control  # type: ignore[attr-defined]
        except ImportError:
            return
        try:
            control.attach(self, int(raw_fd))
        except Exception as exc:
            log.warning("FLOCK_TUI_CONTROL_FD=%s: control channel not attached: %s", raw_fd, exc)

    # -- sinks and types -----------------------------------------------------------------
    def add_sink(self, sink: EventSink) -> None:
        """Attach a sink; it first gets run_started and the agent_registered events so far."""
        self._bus.add_sink(sink)

    def remove_sink(self, sink: EventSink) -> None:
        self._bus.remove_sink(sink)

    @property
    def session_id(self) -> str:
        return self._bus.session_id

    def registered_types(self) -> dict[str, type[BaseModel]]:
        return registered_types()

    # -- agents --------------------------------------------------------------------------
    def agent(self, name: str) -> AgentBuilder:
        if not name or not isinstance(name, str):
            raise ValueError("an agent needs a non-empty name")
        if name in self._agents:
            raise ValueError(f"an agent named {name!r} already exists")
        agent = Agent(name=name)
        self._agents[name] = agent
        self._agent_changed(agent)
        return AgentBuilder(self, agent)

    @property
    def agents(self) -> list[Agent]:
        return list(self._agents.values())

    def get_agent(self, name: str) -> Agent:
        try:
            return self._agents[name]
        except KeyError:
            raise KeyError(f"no agent named {name!r}") from None

    def _agent_changed(self, agent: Agent) -> None:
        """Called by AgentBuilder: (re-)announce the agent (engine.announcer)."""
        self._announcer.changed()

    def _ensure_started(self) -> None:
        """On first use: run_started, then agent_registered for every agent not yet announced."""
        self._announcer.ensure_started()

    # -- publishing ----------------------------------------------------------------------
    async def publish(
        self,
        obj: BaseModel,
        *,
        correlation_id: str | None = None,
        tags: Iterable[str] | None = None,
    ) -> Artifact:
        """Put one object on the blackboard; subscribed agents start running."""
        if not isinstance(obj, BaseModel):
            raise TypeError(
                f"publish() takes an instance of a pydantic model (a @flock_type class), "
                f"got {type(obj).__name__}"
            )
        register_type(type(obj))
        artifact = Artifact.from_model(
            obj, produced_by="external", correlation_id=correlation_id, tags=list(tags or [])
        )
        await self._publish_artifact(artifact)
        return artifact

    async def publish_many(
        self, objs: Iterable[BaseModel], *, correlation_id: str | None = None
    ) -> list[Artifact]:
        items = list(objs)
        for obj in items:
            if not isinstance(obj, BaseModel):
                raise TypeError(
                    f"publish_many() takes pydantic model instances, got {type(obj).__name__}"
                )
        return [await self.publish(obj, correlation_id=correlation_id) for obj in items]

    async def publish_json(self, type_name: str, content: dict[str, Any]) -> Artifact:
        """Publish from JSON (the dashboard's form): PublishError on a bad type or content."""
        model = get_type(type_name)
        if model is None:
            known = ", ".join(sorted(registered_types())) or "none"
            raise PublishError(f"unknown artifact type {type_name!r} (known: {known})")
        if not isinstance(content, dict):
            raise PublishError(f"content for {type_name} must be a JSON object")
        try:
            obj = model.model_validate(content)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or type_name
            raise PublishError(f"invalid {type_name}: {where}: {first['msg']}") from None
        return await self.publish(obj)

    async def _publish_artifact(self, artifact: Artifact, run_id: str | None = None) -> None:
        self._ensure_started()
        await self.store.add(artifact)
        self._bus.emit(
            MessagePublished(
                artifact_id=artifact.id,
                artifact_type=artifact.type,
                produced_by=artifact.produced_by,
                payload=artifact.payload,
                correlation_id=artifact.correlation_id,
                tags=artifact.tags,
                run_id=run_id,
            ),
            correlation_id=artifact.correlation_id,
        )
        self._dispatch(artifact)

    def _dispatch(self, artifact: Artifact) -> None:
        subscribed = False
        for agent in self._agents.values():
            match = agent.match(artifact)
            subscribed = subscribed or match.subscribed
            for exc in match.errors:
                self._bus.emit(
                    AgentError(
                        agent_name=agent.name,
                        error_type=type(exc).__name__,
                        error_message=(
                            f"{exc}; {artifact.type} {artifact.id[:8]} not matched for this agent"
                        ),
                        traceback=_format_cause(exc),
                    ),
                    correlation_id=artifact.correlation_id,
                )
            for group in match.groups:
                self._schedule(agent, group)
        # An agent's output that nobody consumes is a result; the user's own publish that
        # nobody consumes is likely a mistake (a typo'd type, a missing agent): say so.
        external = artifact.produced_by == "external"
        if not subscribed and external and artifact.type not in self._unconsumed_noticed:
            self._unconsumed_noticed.add(artifact.type)
            self._bus.notice(f"no agent consumes {artifact.type}; it is stored on the blackboard")

    def _schedule(self, agent: Agent, inputs: list[Artifact]) -> None:
        correlation_id = inputs[0].correlation_id
        if agent.runs_by_correlation[correlation_id] >= agent.max_iterations:
            if correlation_id not in agent.tripped:
                agent.tripped.add(correlation_id)
                self._bus.emit(
                    AgentError(
                        agent_name=agent.name,
                        error_type=CircuitBreakerOpen.__name__,
                        error_message=(
                            f"{agent.name} reached max_iterations={agent.max_iterations} for this "
                            f"correlation id; further input is stored but not consumed"
                        ),
                    ),
                    correlation_id=correlation_id,
                )
            return
        agent.runs_by_correlation[correlation_id] += 1
        agent.runs += 1
        task = asyncio.get_running_loop().create_task(
            self._run_scheduled(agent, inputs, agent.runs), name=f"flock:{agent.name}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:  # pragma: no cover
            log.error("agent task crashed", exc_info=task.exception())
        if not self._tasks:
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _run_scheduled(self, agent: Agent, inputs: list[Artifact], iteration: int) -> None:
        try:
            await self._execute(agent, inputs, iteration)
        except Exception as exc:
            if not getattr(exc, "_flock_reported", False):  # failed before the run started
                self._bus.emit(
                    AgentError(
                        agent_name=agent.name,
                        error_type=type(exc).__name__,
                        error_message=one_line(exc),
                        traceback="".join(traceback.format_exception(exc)),
                    ),
                    correlation_id=inputs[0].correlation_id,
                )

    # -- running agents ------------------------------------------------------------------
    def _semaphore(self, agent: Agent) -> asyncio.Semaphore:
        """The agent's concurrency limit, per event loop (a Flock may outlive one asyncio.run)."""
        key = (agent.name, agent.max_concurrency, id(asyncio.get_running_loop()))
        sem = self._semaphores.get(key)
        if sem is None:
            sem = self._semaphores[key] = asyncio.Semaphore(agent.max_concurrency)
        return sem

    def _engine_for(self, agent: Agent) -> AgentEngine:
        if agent.engine is not None:
            return agent.engine
        if self._default_engine is None:
            from engine.dspy_engine import DSPyEngine

            self._default_engine = DSPyEngine(self.model)
        return self._default_engine

    async def _execute(
        self, agent: Agent, inputs: list[Artifact], iteration: int, *, publish: bool = True
    ) -> list[Artifact]:
        # Announced at once, so a run waiting for a free slot (max_concurrency) is seen
        # as queued; it counts as running from its first token.
        run = RunContext(
            context=self.context,
            agent=agent,
            run_id=uuid.uuid4().hex,
            iteration=iteration,
            correlation_id=inputs[0].correlation_id,
            inputs=inputs,
            artifact_ids={name: new_id() for name in agent.published_type_names},
            emit_stream=self._emit_stream,
        )
        model = agent.model or self.model
        self._bus.emit(
            AgentActivated(
                agent_name=agent.name,
                run_id=run.run_id,
                iteration=iteration,
                consumed_types=[a.type for a in inputs],
                consumed_artifacts=[a.id for a in inputs],
                produced_types=agent.published_type_names,
                model=model,
            ),
            correlation_id=run.correlation_id,
        )
        async with self._semaphore(agent):
            started = time.perf_counter()
            try:
                outputs = await self._engine_for(agent).run(run)
                artifacts = self._to_artifacts(agent, run, outputs)
                for artifact in artifacts:
                    if publish:
                        await self._publish_artifact(artifact, run_id=run.run_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._bus.emit(
                    AgentError(
                        agent_name=agent.name,
                        run_id=run.run_id,
                        error_type=type(exc).__name__,
                        error_message=one_line(exc),
                        traceback="".join(traceback.format_exception(exc)),
                    ),
                    correlation_id=run.correlation_id,
                )
                with contextlib.suppress(AttributeError):
                    exc._flock_reported = True  # type: ignore[attr-defined]
                raise
            metrics = {"tokens": run.metrics.get("tokens", run.chunks), "chunks": run.chunks}
            metrics.update({k: v for k, v in run.metrics.items() if k not in metrics})
            self._bus.emit(
                AgentCompleted(
                    agent_name=agent.name,
                    run_id=run.run_id,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                    metrics=metrics,
                    artifact_ids=[a.id for a in artifacts],
                ),
                correlation_id=run.correlation_id,
            )
            return artifacts

    def _to_artifacts(
        self, agent: Agent, run: RunContext, outputs: list[BaseModel]
    ) -> list[Artifact]:
        artifacts: list[Artifact] = []
        used: set[str] = set()
        for obj in outputs:
            obj = agent.check_output(obj)
            name = type_name(type(obj))
            preset = run.artifact_ids.get(name)
            artifact_id = preset if preset and preset not in used else None
            if artifact_id:
                used.add(artifact_id)
            artifacts.append(
                Artifact.from_model(
                    obj,
                    produced_by=agent.name,
                    correlation_id=run.correlation_id,
                    artifact_id=artifact_id,
                )
            )
        return artifacts

    def _emit_stream(self, *, run: RunContext, **fields: Any) -> None:
        artifact_id = fields.pop("artifact_id", None)
        if artifact_id is None and len(run.artifact_ids) == 1:
            artifact_id = next(iter(run.artifact_ids.values()))
        self._bus.emit(
            StreamingOutput(
                agent_name=run.agent.name, run_id=run.run_id, artifact_id=artifact_id, **fields
            ),
            correlation_id=run.correlation_id,
        )

    # -- driving -------------------------------------------------------------------------
    async def run_until_idle(self) -> None:
        """Return once no agent run is pending or running (woken by task completion)."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        while self._tasks:
            waiter: asyncio.Future[None] = loop.create_future()
            self._idle_waiters.append(waiter)
            await waiter
        self._notice_waiting_gates()

    def _notice_waiting_gates(self) -> None:
        """Say which AND gates / batches still hold a partial group (once per state)."""
        for agent in self._agents.values():
            for key, text in agent.waiting():
                if key not in self._gate_noticed:
                    self._gate_noticed.add(key)
                    self._bus.notice(text)

    async def invoke(
        self,
        agent: AgentBuilder | Agent | str,
        obj: BaseModel,
        *,
        publish_outputs: bool = True,
    ) -> list[Artifact]:
        """Run one agent on one object directly (no subscription needed); return its outputs.

        With publish_outputs, the outputs go to the blackboard and wake their subscribers
        (call run_until_idle() to wait for them). Errors are reported and re-raised.
        """
        if not isinstance(obj, BaseModel):
            raise TypeError(f"invoke() takes a pydantic model instance, got {type(obj).__name__}")
        target = self._resolve(agent)
        self._ensure_started()
        register_type(type(obj))
        source = Artifact.from_model(obj)
        await self.store.add(source)
        target.runs += 1
        target.runs_by_correlation[source.correlation_id] += 1
        return await self._execute(target, [source], target.runs, publish=publish_outputs)

    def _resolve(self, agent: AgentBuilder | Agent | str) -> Agent:
        if isinstance(agent, AgentBuilder):
            return agent.agent
        if isinstance(agent, Agent):
            return agent
        return self.get_agent(agent)

    async def serve(
        self,
        dashboard: bool = False,
        host: str = "127.0.0.1",
        port: int = 8344,
        token: str | None = None,
        **kw: Any,
    ) -> Any:
        """Serve the bridge (dashboard=True: with the web dashboard). Needs engine.serving."""
        self.context._set_runtime_mode("dashboard" if dashboard else "api")
        self._ensure_started()
        from engine import serving  # type: ignore[attr-defined]  # lazy: imports aiohttp

        return await serving.serve(
            self, dashboard=dashboard, host=host, port=port, token=token, **kw
        )

    async def aclose(self) -> None:
        """Close the sinks this Flock owns (the FLOCK_TUI_EVENT_FD sink closes at exit)."""
        for sink in list(self._bus.sinks):
            if id(sink) in self._shared_sinks:
                continue
            try:
                await sink.aclose()
            except Exception as exc:  # pragma: no cover
                log.warning("closing sink failed: %s", exc)

    async def __aenter__(self) -> Flock:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _format_cause(exc: BaseException) -> str | None:
    cause = exc.__cause__
    if cause is None:
        return None
    return "".join(traceback.format_exception(cause))
