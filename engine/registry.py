"""@flock_type and @flock_tool: the names the blackboard and the agents know."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from pydantic import BaseModel

T = TypeVar("T", bound=type[BaseModel])
F = TypeVar("F", bound=Callable[..., Any])

_TYPES: dict[str, type[BaseModel]] = {}
_TOOLS: dict[str, Callable[..., Any]] = {}


def type_name(model: type[BaseModel]) -> str:
    """The registered name of an artifact type (its class name unless renamed)."""
    return getattr(model, "__flock_type_name__", None) or model.__name__


def register_type(model: type[BaseModel], name: str | None = None) -> type[BaseModel]:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(
            f"@flock_type needs a pydantic BaseModel subclass, got {getattr(model, '__name__', model)!r}"
        )
    if name is not None:
        model.__flock_type_name__ = name  # type: ignore[attr-defined]
    _TYPES[type_name(model)] = model
    return model


@overload
def flock_type(model: T) -> T: ...
@overload
def flock_type(*, name: str | None = None) -> Callable[[T], T]: ...


def flock_type(model: Any = None, *, name: str | None = None) -> Any:
    """Register a pydantic model as an artifact type: `@flock_type` or `@flock_type(name=...)`."""
    if model is None:
        return lambda m: register_type(m, name)
    return register_type(model, name)


def get_type(name: str) -> type[BaseModel] | None:
    return _TYPES.get(name)


def registered_types() -> dict[str, type[BaseModel]]:
    return dict(_TYPES)


@overload
def flock_tool(func: F) -> F: ...
@overload
def flock_tool(*, name: str | None = None) -> Callable[[F], F]: ...


def flock_tool(func: Any = None, *, name: str | None = None) -> Any:
    """Mark a function as a tool agents may call (through DSPy ReAct)."""

    def register(f: F) -> F:
        tool_name = name or f.__name__
        f.__flock_tool_name__ = tool_name  # type: ignore[attr-defined]
        _TOOLS[tool_name] = f
        return f

    if func is None:
        return register
    return register(func)


def get_tool(name: str) -> Callable[..., Any] | None:
    return _TOOLS.get(name)


def tool_name(func: Any) -> str:
    return (
        getattr(func, "__flock_tool_name__", None) or getattr(func, "name", None) or func.__name__
    )
