"""engine: a Flock-style blackboard runtime whose agents all stream at once.

    from engine import Flock, flock_type, flock_tool

Importing this package loads neither textual nor aiohttp (nor dspy: the DSPy engine is
imported on the first agent run).
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
