"""Agents: what they consume, what they publish, and how the blackboard wakes them.

`flock.agent("name")` returns an `AgentBuilder`; every builder method returns the
builder, so a whole agent is one fluent expression.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ValidationError

from engine.errors import OutputValidationError, WherePredicateError, invalid_output
from engine.registry import register_type, type_name

if TYPE_CHECKING:
    from engine.artifacts import Artifact
    from engine.context import RunContext
    from engine.orchestrator import Flock

Predicate = Callable[[Any], bool]

DEFAULT_MAX_CONCURRENCY = 2
DEFAULT_MAX_ITERATIONS = 5


class AgentEngine(Protocol):
    """What turns an agent's inputs into published objects (the DSPy engine by default)."""

    async def run(self, run: RunContext) -> list[BaseModel]: ...


@dataclass
class Subscription:
    """One consumes(...) call.

    One type: the agent runs once per matching artifact. Several types: an AND gate,
    the agent runs once it holds one of each within one correlation id. `batch=n`
    (one type only) waits for n matching artifacts within one correlation id.
    """

    types: tuple[type[BaseModel], ...]
    where: Predicate | None = None
    from_agents: frozenset[str] | None = None
    batch: int = 1
    _pending: dict[str, dict[str, deque[Artifact]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(deque))
    )

    @property
    def type_names(self) -> tuple[str, ...]:
        return tuple(type_name(t) for t in self.types)

    @property
    def is_gate(self) -> bool:
        return len(self.types) > 1 or self.batch > 1

    def accepts(self, artifact: Artifact) -> bool:
        """Type and producer match (no predicate)."""
        if artifact.type not in self.type_names:
            return False
        return self.from_agents is None or artifact.produced_by in self.from_agents

    def check_where(self, artifact: Artifact) -> bool:
        """Run the where-predicate; raises WherePredicateError if it raises."""
        if self.where is None:
            return True
        try:
            return bool(self.where(artifact.to_model()))
        except Exception as exc:
            raise WherePredicateError(
                f"where-predicate raised {type(exc).__name__}: {exc}"
            ) from exc

    def offer(self, artifact: Artifact) -> list[Artifact] | None:
        """Feed one accepted, predicate-passing artifact; return a complete input group or None."""
        if not self.is_gate:
            return [artifact]
        slots = self._pending[artifact.correlation_id]
        slots[artifact.type].append(artifact)
        if self.batch > 1:
            queue = slots[artifact.type]
            if len(queue) < self.batch:
                return None
            group = [queue.popleft() for _ in range(self.batch)]
        else:
            if any(not slots[name] for name in self.type_names):
                return None
            group = [slots[name].popleft() for name in self.type_names]
        if not any(slots.values()):
            del self._pending[artifact.correlation_id]
        return group


@dataclass
class Match:
    """What one artifact means for one agent."""

    subscribed: bool = False
    groups: list[list[Artifact]] = field(default_factory=list)
    errors: list[WherePredicateError] = field(default_factory=list)


@dataclass
class Agent:
    """An agent's specification and its runtime counters."""

    name: str
    description: str = ""
    subscriptions: list[Subscription] = field(default_factory=list)
    publishes: list[type[BaseModel]] = field(default_factory=list)
    tools: list[Any] = field(default_factory=list)
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_iterations: int = DEFAULT_MAX_ITERATIONS
    prevent_self_trigger: bool = True
    engine: AgentEngine | None = None
    model: str | None = None
    runs: int = 0
    runs_by_correlation: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tripped: set[str] = field(default_factory=set)

    @property
    def consumed_type_names(self) -> list[str]:
        names: list[str] = []
        for sub in self.subscriptions:
            for name in sub.type_names:
                if name not in names:
                    names.append(name)
        return names

    @property
    def published_type_names(self) -> list[str]:
        return [type_name(t) for t in self.publishes]

    def check_output(self, obj: object) -> BaseModel:
        """An engine's output, checked again whatever engine made it: a pydantic model of a
        type this agent publishes, valid against that type (`model_copy(update=...)` and
        `model_construct` skip validation). Raises OutputValidationError."""
        if not isinstance(obj, BaseModel):
            raise TypeError(f"{self.name} produced {type(obj).__name__}, not a pydantic model")
        model = type(obj)
        if self.publishes and model not in self.publishes:
            declared = ", ".join(self.published_type_names)
            raise OutputValidationError(
                f"{self.name} produced {model.__name__}, which it does not publish ({declared})"
            )
        try:
            return model.model_validate(obj.model_dump(by_alias=True))
        except ValidationError as exc:
            raise invalid_output(self.name, model, exc) from None

    def match(self, artifact: Artifact) -> Match:
        """Offer an artifact to every subscription: the input groups now ready to run.

        A single-type subscription runs once per artifact (the first matching one wins);
        gates collect until complete. A raising where-predicate is reported in `errors`.
        """
        result = Match()
        matched_single = False
        for sub in self.subscriptions:
            if artifact.type not in sub.type_names:
                continue
            result.subscribed = True
            if not sub.accepts(artifact):
                continue
            if self.prevent_self_trigger and artifact.produced_by == self.name:
                continue
            if not sub.is_gate and matched_single:
                continue
            try:
                if not sub.check_where(artifact):
                    continue
            except WherePredicateError as exc:
                result.errors.append(exc)
                continue
            group = sub.offer(artifact)
            if group is None:
                continue
            matched_single = matched_single or not sub.is_gate
            result.groups.append(group)
        return result

    def waiting(self) -> list[tuple[tuple[object, ...], str]]:
        """(state key, description) for every gate or batch holding a partial group."""
        out: list[tuple[tuple[object, ...], str]] = []
        for sub in self.subscriptions:
            for correlation_id, slots in sub._pending.items():
                have = {name: len(queue) for name, queue in slots.items() if queue}
                if not have:
                    continue
                key = (self.name, sub.type_names, correlation_id, tuple(sorted(have.items())))
                if sub.batch > 1:
                    wants = f"{sub.batch} x {sub.type_names[0]}, has {sum(have.values())}"
                else:
                    missing = [n for n in sub.type_names if n not in have]
                    wants = f"{', '.join(missing)} to join {', '.join(have)}"
                out.append((key, f"{self.name} is still waiting for {wants}"))
        return out


class AgentBuilder:
    """Fluent construction of an agent, exactly as a Flock user writes it."""

    def __init__(self, flock: Flock, agent: Agent) -> None:
        self._flock = flock
        self.agent = agent

    @property
    def name(self) -> str:
        return self.agent.name

    def _changed(self) -> AgentBuilder:
        self._flock._agent_changed(self.agent)
        return self

    def description(self, text: str) -> AgentBuilder:
        self.agent.description = text
        return self._changed()

    def consumes(
        self,
        *types: type[BaseModel],
        where: Predicate | None = None,
        from_agents: Iterable[str] | None = None,
        batch: int = 1,
    ) -> AgentBuilder:
        """Subscribe: one type = run per artifact; several types = an AND gate."""
        if not types:
            raise TypeError(f"{self.name}.consumes() needs at least one artifact type")
        for t in types:
            if not (isinstance(t, type) and issubclass(t, BaseModel)):
                raise TypeError(f"{self.name}.consumes() takes pydantic model classes, got {t!r}")
            register_type(t)
        if len(set(types)) != len(types):
            raise TypeError(f"{self.name}.consumes() got the same type twice")
        if batch < 1 or (batch > 1 and len(types) > 1):
            raise ValueError(
                f"{self.name}.consumes(): batch must be >= 1 and needs exactly one type"
            )
        if where is not None and not callable(where):
            raise TypeError(f"{self.name}.consumes(): where= must be callable")
        self.agent.subscriptions.append(
            Subscription(
                types=tuple(types),
                where=where,
                from_agents=frozenset(from_agents) if from_agents is not None else None,
                batch=batch,
            )
        )
        return self._changed()

    def publishes(self, *types: type[BaseModel]) -> AgentBuilder:
        for t in types:
            if not (isinstance(t, type) and issubclass(t, BaseModel)):
                raise TypeError(f"{self.name}.publishes() takes pydantic model classes, got {t!r}")
            register_type(t)
            if t not in self.agent.publishes:
                self.agent.publishes.append(t)
        return self._changed()

    def with_tools(self, tools: Iterable[Any]) -> AgentBuilder:
        for tool in tools:
            if not callable(tool):
                raise TypeError(f"{self.name}.with_tools() takes callables, got {tool!r}")
            self.agent.tools.append(tool)
        return self._changed()

    def max_concurrency(self, n: int) -> AgentBuilder:
        if n < 1:
            raise ValueError(f"{self.name}.max_concurrency() must be >= 1, got {n}")
        self.agent.max_concurrency = n
        return self._changed()

    def max_iterations(self, n: int) -> AgentBuilder:
        """Circuit breaker: at most n runs per correlation id."""
        if n < 1:
            raise ValueError(f"{self.name}.max_iterations() must be >= 1, got {n}")
        self.agent.max_iterations = n
        return self._changed()

    def prevent_self_trigger(self, enabled: bool = True) -> AgentBuilder:
        self.agent.prevent_self_trigger = enabled
        return self._changed()

    def with_engine(self, engine: AgentEngine) -> AgentBuilder:
        """Replace the DSPy engine for this agent (advanced; used by tests)."""
        self.agent.engine = engine
        return self._changed()

    def model(self, model: str) -> AgentBuilder:
        """Use another model than the Flock's for this agent."""
        self.agent.model = model
        return self._changed()

    def __repr__(self) -> str:
        return f"AgentBuilder({self.name!r})"
