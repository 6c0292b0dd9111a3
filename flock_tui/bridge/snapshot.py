"""The current state of the run, reduced from its events.

A client whose resume point has fallen out of the history gets this snapshot instead:
the agents with their state and the text they have streamed so far, and the artifacts
published. /api/agents and /api/streaming-history read it too. Every part is bounded.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from engine.events import Envelope

MAX_FIELD_CHARS = 64 * 1024
MAX_RUNS_PER_AGENT = 20
RECENT_RUNS = 5  # runs per agent in a snapshot (the dashboard shows as many)
MAX_ARTIFACTS = 500
MAX_CONSOLE_LINES = 200


@dataclass
class AgentRun:
    run_id: str
    # "queued" from its agent_activated (sent when the run is scheduled: it may wait for
    # a max_concurrency slot) to its first text, then "running", "done" or "error". A
    # run first seen by its output is "running".
    state: str = "running"
    iteration: int = 1
    tokens: int = 0
    fields: dict[str, str] = field(default_factory=dict)
    truncated: bool = False
    error: str | None = None
    duration_ms: float | None = None

    def append(self, name: str, text: str) -> None:
        joined = self.fields.get(name, "") + text
        if len(joined) > MAX_FIELD_CHARS:
            joined = joined[-MAX_FIELD_CHARS:]
            self.truncated = True
        self.fields[name] = joined

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "state": self.state,
            "iteration": self.iteration,
            "tokens": self.tokens,
            "fields": dict(self.fields),
            "truncated": self.truncated,
            "error": self.error,
            "duration_ms": self.duration_ms,
        }


@dataclass
class AgentState:
    name: str
    description: str = ""
    consumes: list[str] = field(default_factory=list)
    publishes: list[str] = field(default_factory=list)
    tokens: int = 0
    runs: deque[AgentRun] = field(default_factory=lambda: deque(maxlen=MAX_RUNS_PER_AGENT))

    @property
    def state(self) -> str:
        """The badge, as the TUI's: running while a run streams, queued while one waits,
        else how the latest run ended (idle before any run). An error without a run (a
        circuit breaker, a raising where=) relabels nothing."""
        states = [run.state for run in self.runs]
        if not states:
            return "idle"
        if "running" in states:
            return "running"
        if "queued" in states:
            return "queued"
        return states[-1]

    def run(self, run_id: str, state: str = "running") -> AgentRun:
        """The run with this id; a new one in `state` when there is none."""
        for run in reversed(self.runs):
            if run.run_id == run_id:
                return run
        run = AgentRun(run_id=run_id, state=state)
        self.runs.append(run)
        return run

    def summary(self) -> dict[str, Any]:
        current = self.runs[-1] if self.runs else None
        return {
            "name": self.name,
            "description": self.description,
            "consumes": list(self.consumes),
            "publishes": list(self.publishes),
            "state": self.state,
            "tokens": self.tokens,
            "runs": len(self.runs),
            "run_id": current.run_id if current else None,
        }

    def as_json(self) -> dict[str, Any]:
        data = self.summary()
        current = self.runs[-1] if self.runs else None
        data["current"] = current.as_json() if current else None
        # The last few runs, oldest first: concurrent runs of one agent each keep their text.
        data["recent"] = [run.as_json() for run in list(self.runs)[-RECENT_RUNS:]]
        return data


def reported_tokens(metrics: Any) -> int | None:
    """The token count an agent_completed reports (the TUI shows the same one)."""
    if isinstance(metrics, dict):
        for key in ("tokens", "output_tokens", "completion_tokens", "total_tokens"):
            value = metrics.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return int(value)
    return None


class RunState:
    """Folds envelopes into agents, runs, artifacts and the run's own status."""

    def __init__(self) -> None:
        self.agents: dict[str, AgentState] = {}
        self.artifacts: deque[dict[str, Any]] = deque(maxlen=MAX_ARTIFACTS)
        self.console: deque[dict[str, Any]] = deque(maxlen=MAX_CONSOLE_LINES)
        self.run: dict[str, Any] | None = None
        self.finished: dict[str, Any] | None = None
        self.session_id: str | None = None
        self.last_seq = 0

    def agent(self, name: str) -> AgentState:
        state = self.agents.get(name)
        if state is None:
            state = self.agents[name] = AgentState(name=name)
        return state

    def apply(self, envelope: Envelope) -> None:
        self.last_seq = max(self.last_seq, envelope.seq)
        self.session_id = envelope.session_id
        data = envelope.data
        kind = envelope.event_type
        try:
            if kind == "streaming_output":
                self._streaming(data)
            elif kind == "agent_activated":
                agent = self.agent(str(data["agent_name"]))
                run = agent.run(str(data["run_id"]), state="queued")
                run.iteration = int(data.get("iteration") or 1)
            elif kind == "agent_completed":
                agent = self.agent(str(data["agent_name"]))
                run = agent.run(str(data["run_id"]))
                run.state = "done"
                run.duration_ms = data.get("duration_ms")
                reported = reported_tokens(data.get("metrics"))
                if reported is not None:  # the engine's own count wins, as in the TUI
                    agent.tokens += reported - run.tokens
                    run.tokens = reported
            elif kind == "agent_error":
                agent = self.agent(str(data["agent_name"]))
                if data.get("run_id"):
                    run = agent.run(str(data["run_id"]))
                    run.state = "error"
                    run.error = f"{data.get('error_type')}: {data.get('error_message')}"
            elif kind == "message_published":
                self.artifacts.append({"seq": envelope.seq, **data})
            elif kind == "agent_registered":
                agent = self.agent(str(data["name"]))
                agent.description = str(data.get("description") or "")
                agent.consumes = list(data.get("consumes") or [])
                agent.publishes = list(data.get("publishes") or [])
            elif kind == "console_output":
                self.console.append({"stream": data.get("stream"), "text": data.get("text")})
            elif kind == "run_started":
                self.run = dict(data)
                self.finished = None
            elif kind == "run_finished":
                self.finished = dict(data)
        except (KeyError, TypeError, ValueError):
            # A malformed payload must not break the bridge; the frame itself is still
            # forwarded, only the snapshot ignores it.
            return

    def _streaming(self, data: dict[str, Any]) -> None:
        agent = self.agent(str(data["agent_name"]))
        run = agent.run(str(data["run_id"]))
        content = str(data.get("content") or "")
        if content and run.state == "queued":
            run.state = "running"  # its first text: it has its slot
        if data.get("output_type", "llm_token") != "llm_token":
            return
        if content:  # an empty chunk only marks the end of a field: not a token
            run.tokens += 1
            agent.tokens += 1
        run.append(str(data.get("field") or "output"), content)

    def snapshot(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "seq": self.last_seq,
            "run": self.run,
            "finished": self.finished,
            "agents": [agent.as_json() for agent in self.agents.values()],
            "artifacts": list(self.artifacts),
            "console": list(self.console),
        }
