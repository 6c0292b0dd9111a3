"""Errors the engine raises or reports as agent_error events."""

from __future__ import annotations

from typing import Any


class FlockError(Exception):
    """Base class for engine errors."""


class PublishError(ValueError, FlockError):
    """publish_json() got an unknown type name or content that does not validate."""


class OutputValidationError(FlockError):
    """An agent's output does not validate against its published type."""


class ToolError(FlockError):
    """A tool called by an agent raised."""


class WherePredicateError(FlockError):
    """A consumes(..., where=...) predicate raised; the artifact is not matched."""


class CircuitBreakerOpen(FlockError):
    """An agent reached max_iterations for one correlation id."""


def one_line(exc: BaseException, limit: int = 300) -> str:
    """A short, single-line description of an exception."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def invalid_output(agent_name: str, model: type, exc: Any) -> OutputValidationError:
    """The error for an output that fails its type's validation (a pydantic
    ValidationError `exc`): names the agent, the type, the first bad field and why."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or model.__name__
    return OutputValidationError(
        f"{agent_name} produced an invalid {model.__name__}: {where}: {first['msg']}"
    )
