"""engine: a Flock-style blackboard runtime whose agents all stream at once.

    from engine import Flock, flock_type, flock_tool

    flock = Flock()                       # model: argument, else DEFAULT_MODEL, else offline
    (flock.agent("writer").description("Writes posts.")
        .consumes(Idea)                   # several consumes() = OR
        .consumes(Review, where=lambda r: r.score <= 8)
        .publishes(Blog)
        .with_tools([write_html])         # tools go through dspy.ReAct
        .max_concurrency(2)               # default 2 runs of this agent at once
        .max_iterations(5))               # circuit breaker per correlation id (default 5)
    flock.agent("judge").consumes(Pro, Con).publishes(Verdict)   # AND gate
    flock.agent("editor").consumes(Analysis, batch=8).publishes(Digest)
    await flock.publish(Idea(topic="cats"))
    await flock.run_until_idle()
    blogs = await flock.store.get_by_type(Blog)

Events (engine.events) go to sinks: `flock.add_sink(sink)`; with FLOCK_TUI_EVENT_FD a
JSON-lines sink on that fd, otherwise a console sink. Importing this package loads
neither textual nor aiohttp (nor dspy: the DSPy engine loads on the first agent run).
"""

from engine.agent import Agent, AgentBuilder, AgentEngine, Subscription
from engine.artifacts import Artifact
from engine.context import Context, RunContext
from engine.errors import (
    CircuitBreakerOpen,
    FlockError,
    OutputValidationError,
    PublishError,
    ToolError,
    WherePredicateError,
)
from engine.orchestrator import Flock
from engine.registry import flock_tool, flock_type
from engine.sinks import EventSink, JsonLinesSink, ListSink, QueueSink
from engine.store import BlackboardStore

__all__ = [
    "Agent",
    "AgentBuilder",
    "AgentEngine",
    "Artifact",
    "BlackboardStore",
    "CircuitBreakerOpen",
    "Context",
    "EventSink",
    "Flock",
    "FlockError",
    "JsonLinesSink",
    "ListSink",
    "OutputValidationError",
    "PublishError",
    "QueueSink",
    "RunContext",
    "Subscription",
    "ToolError",
    "WherePredicateError",
    "flock_tool",
    "flock_type",
]
