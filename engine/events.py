"""The event protocol: the only door between the engine and its renderers.

One JSON object per line on the pipe, one text frame per event on the WebSocket::

    {"v": 1, "seq": 42, "event_type": "streaming_output",
     "timestamp": "2026-11-25T10:00:00.123Z", "session_id": "...",
     "correlation_id": "...", "data": {...}}

`seq` is strictly increasing per session. `data` holds one of the payload models
below, chosen by `event_type`. Unknown event types decode fine (forward
compatibility); `Envelope.payload()` then returns None and consumers skip them.

This module imports only the standard library and pydantic.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROTOCOL_VERSION = 1

OutputType = Literal["llm_token", "status", "log", "stdout", "stderr"]
RuntimeMode = Literal["cli", "dashboard", "api"]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow")


class RunStarted(_Payload):
    event_type: Literal["run_started"] = Field("run_started", exclude=True)
    script: str | None = None
    argv: list[str] = Field(default_factory=list)
    runtime_mode: RuntimeMode = "cli"
    model: str | None = None
    pid: int | None = None


class AgentRegistered(_Payload):
    event_type: Literal["agent_registered"] = Field("agent_registered", exclude=True)
    name: str
    description: str = ""
    consumes: list[str] = Field(default_factory=list)
    publishes: list[str] = Field(default_factory=list)
    model: str | None = None
    tools: list[str] = Field(default_factory=list)


class AgentActivated(_Payload):
    event_type: Literal["agent_activated"] = Field("agent_activated", exclude=True)
    agent_name: str
    run_id: str
    iteration: int = 1
    consumed_types: list[str] = Field(default_factory=list)
    consumed_artifacts: list[str] = Field(default_factory=list)
    produced_types: list[str] = Field(default_factory=list)
    model: str | None = None


class StreamingOutput(_Payload):
    """One chunk of an agent's output.

    output_type "llm_token" carries text of output field `field`; "status" carries
    a status line such as a tool call; "log", "stdout" and "stderr" carry other text.
    `sequence` counts chunks per (agent_name, run_id), from 0.
    """

    event_type: Literal["streaming_output"] = Field("streaming_output", exclude=True)
    agent_name: str
    run_id: str
    output_type: OutputType = "llm_token"
    field: str | None = None
    content: str = ""
    sequence: int = 0
    is_final: bool = False
    artifact_id: str | None = None


class MessagePublished(_Payload):
    event_type: Literal["message_published"] = Field("message_published", exclude=True)
    artifact_id: str
    artifact_type: str
    produced_by: str
    payload: dict[str, Any] = Field(default_factory=dict)
    correlation_id: str | None = None
    tags: list[str] = Field(default_factory=list)
    run_id: str | None = None


class AgentCompleted(_Payload):
    event_type: Literal["agent_completed"] = Field("agent_completed", exclude=True)
    agent_name: str
    run_id: str
    duration_ms: float = 0.0
    metrics: dict[str, Any] = Field(default_factory=dict)
    artifact_ids: list[str] = Field(default_factory=list)


class AgentError(_Payload):
    event_type: Literal["agent_error"] = Field("agent_error", exclude=True)
    agent_name: str
    run_id: str | None = None
    error_type: str
    error_message: str
    traceback: str | None = None


class ConsoleOutput(_Payload):
    """The child's own stdout/stderr, added by the runner (not by the engine)."""

    event_type: Literal["console_output"] = Field("console_output", exclude=True)
    stream: Literal["stdout", "stderr"] = "stdout"
    text: str


NoticeLevel = Literal["info", "warning", "error"]


class RunNotice(_Payload):
    """Something the user should see that is no agent's output: from the engine (a
    published type no agent consumes, an AND gate left waiting) or from the runner (a
    garbled line on the pipe, ...), in the seq order of whoever added it, so a record of
    the run keeps its warnings. "info" is shown but is not a warning.
    """

    event_type: Literal["notice"] = Field("notice", exclude=True)
    level: NoticeLevel
    text: str


class RunFinished(_Payload):
    event_type: Literal["run_finished"] = Field("run_finished", exclude=True)
    exit_code: int | None = None
    reason: str | None = None
    totals: dict[str, Any] = Field(default_factory=dict)


EventPayload = (
    RunStarted
    | AgentRegistered
    | AgentActivated
    | StreamingOutput
    | MessagePublished
    | AgentCompleted
    | AgentError
    | ConsoleOutput
    | RunNotice
    | RunFinished
)

PAYLOAD_TYPES: dict[str, type[_Payload]] = {
    "run_started": RunStarted,
    "agent_registered": AgentRegistered,
    "agent_activated": AgentActivated,
    "streaming_output": StreamingOutput,
    "message_published": MessagePublished,
    "agent_completed": AgentCompleted,
    "agent_error": AgentError,
    "console_output": ConsoleOutput,
    "notice": RunNotice,
    "run_finished": RunFinished,
}

LIFECYCLE_EVENTS = frozenset(PAYLOAD_TYPES) - {"streaming_output", "console_output", "notice"}


def utc_timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with millisecond precision and a trailing Z."""
    moment = moment or datetime.now(UTC)
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Envelope(BaseModel):
    """The versioned wrapper around every event."""

    model_config = ConfigDict(extra="allow")

    v: int = PROTOCOL_VERSION
    seq: int
    event_type: str
    timestamp: str
    session_id: str
    correlation_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    def payload(self) -> EventPayload | None:
        """The typed payload, or None for an event type this version does not know."""
        model = PAYLOAD_TYPES.get(self.event_type)
        if model is None:
            return None
        return model.model_validate(self.data)  # type: ignore[return-value]

    @property
    def time(self) -> datetime:
        return parse_timestamp(self.timestamp)


class ProtocolError(ValueError):
    """A line on the wire that is not a valid event envelope."""


# Lone surrogates (what Python makes of undecodable bytes in argv, file names or tool
# output) cannot be written as UTF-8: one of them would kill a pipe writer or a WebSocket.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# The JSON escape of a surrogate: a line without one cannot decode to a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def encode(envelope: Envelope) -> str:
    """One envelope as one line of JSON, without the trailing newline.

    Always encodable as UTF-8: a lone surrogate becomes U+FFFD.
    """
    text = json.dumps(envelope.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
    return _LONE_SURROGATE.sub("\ufffd", text)


def encode_line(envelope: Envelope) -> bytes:
    return (encode(envelope) + "\n").encode("utf-8")


def parse_json(text: str) -> Any:
    """JSON from another process, made safe to show: a lone surrogate (the escape
    "\\ud800" without its pair) becomes U+FFFD, and nesting too deep for this program is
    a ValueError like any other bad JSON (never a RecursionError)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if _SURROGATE_ESCAPE.search(text):
        value = _scrub_surrogates(value)
    return value


def _scrub_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_scrub_surrogates(k): _scrub_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_surrogates(v) for v in value]
    return value


def decode(line: str | bytes) -> Envelope:
    """Parse one line (or WebSocket frame). Raises ProtocolError with a short reason."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"not UTF-8: {exc.reason}") from None
    line = line.strip()
    if not line:
        raise ProtocolError("empty line")
    try:
        raw = parse_json(line)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc.msg} at column {exc.colno}") from None
    except ValueError as exc:
        raise ProtocolError(f"not JSON this program reads: {exc}") from None
    if not isinstance(raw, dict):
        raise ProtocolError("not a JSON object")
    try:
        envelope = Envelope.model_validate(raw)
    except RecursionError:
        raise ProtocolError("bad envelope: nested too deeply") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "envelope"
        raise ProtocolError(f"bad envelope: {where}: {first['msg']}") from None
    if envelope.v != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {envelope.v}")
    model = PAYLOAD_TYPES.get(envelope.event_type)
    if model is not None:
        try:
            model.model_validate(envelope.data)
        except RecursionError:
            raise ProtocolError(f"bad {envelope.event_type} data: nested too deeply") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "data"
            raise ProtocolError(
                f"bad {envelope.event_type} data: {where}: {first['msg']}"
            ) from None
    return envelope


class EventFactory:
    """Stamps payloads into envelopes: one session id, a strictly increasing seq.

    Thread-safe, so sinks fed from worker threads keep seq order.
    """

    def __init__(self, session_id: str | None = None, start_seq: int = 1) -> None:
        self.session_id = session_id or uuid.uuid4().hex
        self._counter = itertools.count(start_seq)
        self._lock = threading.Lock()

    def make(
        self,
        payload: EventPayload,
        correlation_id: str | None = None,
        timestamp: str | None = None,
    ) -> Envelope:
        data = payload.model_dump(mode="json")
        with self._lock:
            seq = next(self._counter)
            stamp = timestamp or utc_timestamp()
        return Envelope(
            seq=seq,
            event_type=payload.event_type,
            timestamp=stamp,
            session_id=self.session_id,
            correlation_id=correlation_id,
            data=data,
        )
