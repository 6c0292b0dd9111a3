"""The records the run state is made of: agents, their runs, fields, artifacts, feed.

Plain data (no Textual); `flock_tui.state.RunState` builds and updates them from events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Badge = Literal["idle", "queued", "running", "done", "error"]
RunStatus = Literal["queued", "running", "done", "error"]

_PIECE_CHUNKS = 256


class FieldText:
    """The streamed text of one output field of one run, appended chunk by chunk.

    Chunks are joined into larger pieces as they come so that millions of tokens do not
    cost one Python object each; `since(pos)` hands a reader the text it has not seen.
    """

    __slots__ = ("name", "_pieces", "_tail", "length", "chunks", "final")

    def __init__(self, name: str) -> None:
        self.name = name
        self._pieces: list[str] = []
        self._tail: list[str] = []
        self.length = 0
        self.chunks = 0
        self.final = False

    def append(self, text: str) -> None:
        if not text:
            return
        self._tail.append(text)
        self.length += len(text)
        self.chunks += 1
        if len(self._tail) >= _PIECE_CHUNKS:
            self._pieces.append("".join(self._tail))
            self._tail.clear()

    @property
    def text(self) -> str:
        return "".join(self._pieces) + "".join(self._tail)

    def since(self, pos: int) -> str:
        """The text after the first `pos` characters."""
        want = self.length - pos
        if want <= 0:
            return ""
        parts: list[str] = []
        have = 0
        for piece in reversed(self._tail):
            parts.append(piece)
            have += len(piece)
            if have >= want:
                break
        else:
            for piece in reversed(self._pieces):
                parts.append(piece)
                have += len(piece)
                if have >= want:
                    break
        joined = "".join(reversed(parts))
        return joined[len(joined) - want :]


@dataclass(slots=True)
class StatusLines:
    """Consecutive status lines (tool calls, logs) inside a run."""

    kind: str
    lines: list[str] = field(default_factory=list)


Part = FieldText | StatusLines


@dataclass(slots=True)
class ArtifactRecord:
    artifact_id: str
    artifact_type: str
    produced_by: str
    payload: dict[str, Any]
    correlation_id: str | None
    time: datetime
    run_id: str | None = None


@dataclass(slots=True)
class RunModel:
    """One activation of an agent."""

    run_id: str
    agent: str
    iteration: int
    trigger_types: list[str]
    started: datetime
    status: RunStatus = "queued"
    ended: datetime | None = None
    parts: list[Part] = field(default_factory=list)
    fields: dict[str, FieldText] = field(default_factory=dict)
    token_chunks: int = 0
    reported_tokens: int | None = None
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    error: str | None = None
    error_detail: str | None = None
    version: int = 0
    first_token: datetime | None = None

    @property
    def tokens(self) -> int:
        return self.reported_tokens if self.reported_tokens is not None else self.token_chunks

    def elapsed(self, clock: datetime) -> float:
        end = self.ended or clock
        return max(0.0, (end - self.started).total_seconds())

    def tokens_per_second(self, clock: datetime) -> float:
        """Tokens over the time since the first one: the wait for a concurrency slot or
        for the LLM's first byte is not streaming time."""
        if self.first_token is None or self.tokens < 2:
            return 0.0
        seconds = ((self.ended or clock) - self.first_token).total_seconds()
        # n tokens span n - 1 gaps from the first one: exact for a steady stream
        return (self.tokens - 1) / seconds if seconds > 0 else 0.0

    def field_text(self, name: str) -> str:
        part = self.fields.get(name)
        return part.text if part else ""


@dataclass(slots=True)
class AgentModel:
    name: str
    description: str = ""
    model: str | None = None
    consumes: list[str] = field(default_factory=list)
    publishes: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    runs: dict[str, RunModel] = field(default_factory=dict)
    last_output: str = ""
    version: int = 0

    @property
    def iterations(self) -> int:
        return len(self.runs)

    @property
    def badge(self) -> Badge:
        statuses = [run.status for run in self.runs.values()]
        if not statuses:
            return "idle"
        if "running" in statuses:
            return "running"
        if "queued" in statuses:
            return "queued"
        return statuses[-1]  # the latest run: done or error

    @property
    def active(self) -> bool:
        return self.badge in ("running", "queued")

    @property
    def tokens(self) -> int:
        return sum(run.tokens for run in self.runs.values())

    @property
    def latest(self) -> RunModel | None:
        return next(reversed(self.runs.values()), None) if self.runs else None

    def elapsed(self, clock: datetime) -> float:
        run = self.latest
        return run.elapsed(clock) if run else 0.0

    def tokens_per_second(self, clock: datetime) -> float:
        run = self.latest
        return run.tokens_per_second(clock) if run else 0.0


@dataclass(slots=True)
class FeedEntry:
    seq: int
    time: datetime
    artifact_type: str
    produced_by: str
    correlation_id: str | None
    artifact_id: str


@dataclass(slots=True)
class ConsoleLine:
    stream: str
    text: str


@dataclass(slots=True)
class Changes:
    """What one batch of items changed; the app syncs only these widgets."""

    new_agents: list[str] = field(default_factory=list)
    agents: set[str] = field(default_factory=set)
    feed: list[FeedEntry] = field(default_factory=list)
    console: list[ConsoleLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ended: bool = False

    def __bool__(self) -> bool:
        return (
            bool(self.new_agents or self.agents or self.feed or self.console or self.warnings)
            or self.ended
        )
