"""Context: what an agent run may know about the Flock it runs in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.events import OutputType, RuntimeMode

if TYPE_CHECKING:
    from engine.agent import Agent
    from engine.artifacts import Artifact

_MODES: tuple[RuntimeMode, ...] = ("cli", "dashboard", "api")


class Context:
    """Flock-wide context. `runtime_mode` is set by the orchestrator only."""

    def __init__(self, session_id: str, model: str) -> None:
        self.session_id = session_id
        self.model = model
        self._runtime_mode: RuntimeMode = "cli"

    @property
    def runtime_mode(self) -> RuntimeMode:
        return self._runtime_mode

    def _set_runtime_mode(self, mode: RuntimeMode) -> None:
        if mode not in _MODES:
            raise ValueError(f"unknown runtime mode {mode!r}; expected one of {_MODES}")
        self._runtime_mode = mode

    def __repr__(self) -> str:
        return f"Context(session_id={self.session_id!r}, runtime_mode={self._runtime_mode!r})"


StreamEmitter = Callable[..., None]


@dataclass
class RunContext:
    """One agent run: its inputs, ids and a way to stream output."""

    context: Context
    agent: Agent
    run_id: str
    iteration: int
    correlation_id: str
    inputs: list[Artifact]
    artifact_ids: dict[str, str]
    emit_stream: StreamEmitter
    metrics: dict[str, Any] = field(default_factory=dict)
    _sequence: int = 0

    def stream(
        self,
        content: str,
        *,
        field: str | None = None,
        output_type: OutputType = "llm_token",
        is_final: bool = False,
        artifact_id: str | None = None,
    ) -> None:
        """Emit one streaming_output event for this run (sequence counted here)."""
        seq = self._sequence
        self._sequence += 1
        self.emit_stream(
            run=self,
            content=content,
            field=field,
            output_type=output_type,
            is_final=is_final,
            sequence=seq,
            artifact_id=artifact_id,
        )

    @property
    def chunks(self) -> int:
        return self._sequence
