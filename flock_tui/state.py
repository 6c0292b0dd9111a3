"""A pure model of one run, reduced from events (no Textual here).

`RunState.apply(item)` folds one source item (an Envelope, a SourceNotice or the final
SourceEnded) into the model and records what changed; the app drains the changes once per
batch (`take_changes()`) and syncs only the widgets concerned.

Notices (a SourceNotice, or a recorded `notice` event, which is the same thing) go to the
console in arrival order, as console lines of stream "warning" (levels warning and
error: these are counted in `warnings`) or "info" (not a warning). Keeping them in the
console's own order makes a replay's console the same as the live run's, however the
items were batched.

Time is event time: the clock is the latest event timestamp, so elapsed times and
tokens per second are the same in every replay. A live app may push the wall clock with
`tick(now)` while the run has not ended.
"""

# The records (AgentModel, RunModel, ...) live in flock_tui.runmodel; re-exported here.

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any, Literal

from engine.events import (
    AgentActivated,
    AgentCompleted,
    AgentError,
    AgentRegistered,
    ConsoleOutput,
    Envelope,
    MessagePublished,
    ProtocolError,
    RunFinished,
    RunNotice,
    RunStarted,
    StreamingOutput,
    parse_timestamp,
)
from flock_tui.runmodel import (
    AgentModel,
    ArtifactRecord,
    Changes,
    ConsoleLine,
    FeedEntry,
    FieldText,
    RunModel,
    StatusLines,
)
from flock_tui.sources.base import SourceEnded, SourceItem, SourceNotice
from flock_tui.text import sanitize

ChildState = Literal["starting", "running", "finished", "ended"]

CONSOLE_LINES = 10_000
FEED_ENTRIES = 5_000
WARNINGS_KEPT = 1_000


class RunState:
    """Everything the screen shows, reduced from the event stream."""

    def __init__(self) -> None:
        self.agents: dict[str, AgentModel] = {}
        self.artifacts: dict[str, ArtifactRecord] = {}
        self.feed: deque[FeedEntry] = deque(maxlen=FEED_ENTRIES)
        self.console: deque[ConsoleLine] = deque(maxlen=CONSOLE_LINES)
        self.warnings: deque[str] = deque(maxlen=WARNINGS_KEPT)  # the latest, for display
        self.warning_count = 0  # all of them (warnings and errors; info is not counted)
        self.script: str | None = None
        self.model: str | None = None
        self.started: datetime | None = None
        self.event_clock: datetime | None = None
        self.live_now: datetime | None = None
        self.child_state: ChildState = "starting"
        self.exit_code: int | None = None
        self.finish_reason: str | None = None
        self.source_ended = False
        self.events = 0
        self.artifact_count = 0
        self.last_seq: int | None = None
        self._changes = Changes()

    # ----------------------------------------------------------------- derived values
    @property
    def clock(self) -> datetime | None:
        if self.live_now is not None and not self.source_ended:
            if self.event_clock is None or self.live_now > self.event_clock:
                return self.live_now
        return self.event_clock

    @property
    def elapsed(self) -> float:
        clock = self.clock
        if self.started is None or clock is None:
            return 0.0
        return max(0.0, (clock - self.started).total_seconds())

    @property
    def running_agents(self) -> int:
        return sum(1 for agent in self.agents.values() if agent.badge == "running")

    @property
    def tokens(self) -> int:
        return sum(agent.tokens for agent in self.agents.values())

    @property
    def ended(self) -> bool:
        return self.child_state in ("finished", "ended")

    def tick(self, now: datetime) -> None:
        """Advance the live clock (only for a live run that has not ended)."""
        if not self.source_ended and self.child_state != "finished":
            self.live_now = now

    def take_changes(self) -> Changes:
        changes, self._changes = self._changes, Changes()
        return changes

    # ------------------------------------------------------------------ reduction
    def apply(self, item: SourceItem) -> None:
        if isinstance(item, Envelope):
            self._apply_envelope(item)
        elif isinstance(item, SourceNotice):
            self._notice(item.level, item.text)
        elif isinstance(item, SourceEnded):
            self._apply_ended(item)

    def _notice(self, level: str, text: str) -> None:
        line = f"{level}: {sanitize(text)}"
        if level == "info":
            self._console_line("info", line)
        else:
            self._warn(line)

    def _warn(self, text: str) -> None:
        """A warning or error: counted, and shown in the console where it happened."""
        self.warnings.append(text)
        self.warning_count += 1
        self._console_line("warning", text)

    def _console_line(self, stream: str, text: str) -> None:
        entry = ConsoleLine(stream=stream, text=text)
        self.console.append(entry)
        self._changes.console.append(entry)

    def _apply_ended(self, item: SourceEnded) -> None:
        self.source_ended = True
        if self.exit_code is None:
            self.exit_code = item.exit_code
        if self.finish_reason is None:
            self.finish_reason = item.reason
        self.child_state = "finished" if self.child_state == "finished" else "ended"
        self._changes.ended = True

    def _interrupt_runs(self, reason: str, when: datetime) -> None:
        """Mark runs that can no longer finish (the script died under them) as failed."""
        for agent in self.agents.values():
            for run in agent.runs.values():
                if run.status in ("queued", "running"):
                    run.status = "error"
                    run.error = run.error or reason
                    run.ended = run.ended or when
                    self._touch(agent, run)

    def _apply_envelope(self, env: Envelope) -> None:
        self.events += 1
        if self.last_seq is not None and env.seq > self.last_seq + 1:
            self._warn(
                f"warning: {env.seq - self.last_seq - 1} event(s) missing before seq {env.seq}"
            )
        if self.last_seq is None or env.seq > self.last_seq:
            self.last_seq = env.seq
        try:
            when = parse_timestamp(env.timestamp)
        except ValueError:
            self._warn(f"warning: bad timestamp {sanitize(env.timestamp)[:40]!r} (seq {env.seq})")
            when = self.event_clock
        if when is not None:
            if self.event_clock is None or when > self.event_clock:
                self.event_clock = when
            if self.started is None:
                self.started = when
        try:
            payload = env.payload()
        except (ProtocolError, ValueError) as exc:
            self._warn(f"warning: bad {env.event_type} data (seq {env.seq}): {exc}".splitlines()[0])
            return
        stamp = when or datetime.fromtimestamp(0).astimezone()
        match payload:
            case StreamingOutput():
                # a frame the bridge merged for a slow reader (attach) holds several tokens
                merged = getattr(env, "merged_tokens", None)
                self._on_stream(payload, stamp, merged if isinstance(merged, int) else 1)
            case AgentActivated():
                self._on_activated(payload, stamp)
            case AgentRegistered():
                agent = self._agent(payload.name)
                agent.description = payload.description
                agent.consumes = list(payload.consumes)
                agent.publishes = list(payload.publishes)
                agent.tools = list(payload.tools)
                if payload.model:
                    agent.model = payload.model
                self._touch(agent)
            case MessagePublished():
                self._on_published(payload, env, stamp)
            case AgentCompleted():
                self._on_completed(payload, stamp)
            case AgentError():
                self._on_error(payload, stamp)
            case ConsoleOutput():
                self._on_console(payload.stream, payload.text)
            case RunNotice():
                self._notice(payload.level, payload.text)
            case RunStarted():
                self.script = payload.script
                self.model = payload.model
                self.child_state = "running"
                self.started = when or self.started
            case RunFinished():
                self.child_state = "finished"
                self.exit_code = payload.exit_code
                self.finish_reason = payload.reason
                self._changes.ended = True
                if payload.exit_code not in (None, 0):
                    self._interrupt_runs(
                        f"interrupted: the script exited with code {payload.exit_code}", stamp
                    )
            case None:
                pass  # an event type this version does not know

    # --------------------------------------------------------------- per event
    def _agent(self, name: str) -> AgentModel:
        agent = self.agents.get(name)
        if agent is None:
            agent = AgentModel(name=name, model=self.model)
            self.agents[name] = agent
            self._changes.new_agents.append(name)
        return agent

    def _touch(self, agent: AgentModel, run: RunModel | None = None) -> None:
        agent.version += 1
        if run is not None:
            run.version += 1
        self._changes.agents.add(agent.name)

    def _run(self, agent: AgentModel, run_id: str | None, when: datetime) -> RunModel:
        if run_id is not None and run_id in agent.runs:
            return agent.runs[run_id]
        if run_id is None:
            latest = agent.latest
            if latest is not None:
                return latest
            run_id = "run"
        # Output for a run we never saw start: make one so nothing is lost.
        run = RunModel(
            run_id=run_id,
            agent=agent.name,
            iteration=agent.iterations + 1,
            trigger_types=[],
            started=when,
            status="running",
        )
        agent.runs[run_id] = run
        return run

    def _on_activated(self, p: AgentActivated, when: datetime) -> None:
        agent = self._agent(p.agent_name)
        if p.model:
            agent.model = p.model
        run = agent.runs.get(p.run_id)
        if run is None:
            run = RunModel(
                run_id=p.run_id,
                agent=agent.name,
                iteration=p.iteration if p.iteration > agent.iterations else agent.iterations + 1,
                trigger_types=list(p.consumed_types),
                started=when,
            )
            agent.runs[p.run_id] = run
        self._touch(agent, run)

    def _on_stream(self, p: StreamingOutput, when: datetime, tokens: int = 1) -> None:
        agent = self._agent(p.agent_name)
        run = self._run(agent, p.run_id, when)
        if run.status == "queued":
            run.status = "running"
        text = sanitize(p.content)
        if p.output_type == "llm_token":
            name = p.field or "output"
            part = run.fields.get(name)
            if part is None or _status_since(run, part):
                # a new field, or the same field again after a tool step (ReAct thoughts):
                # a new block below the status lines, so the transcript keeps event order
                part = FieldText(name)
                run.fields[name] = part
                run.parts.append(part)
            part.append(text)
            if p.is_final:
                part.final = True
            if text:  # an empty chunk only marks the field's end
                if run.first_token is None:
                    run.first_token = when
                run.token_chunks += max(1, tokens)
            if text.strip():
                agent.last_output = _last_line(agent.last_output, text)
        elif text:
            last = run.parts[-1] if run.parts else None
            if not isinstance(last, StatusLines) or last.kind != p.output_type:
                last = StatusLines(kind=p.output_type)
                run.parts.append(last)
            for line in text.rstrip("\n").split("\n"):
                last.lines.append(line)
        self._touch(agent, run)

    def _on_published(self, p: MessagePublished, env: Envelope, when: datetime) -> None:
        record = ArtifactRecord(
            artifact_id=p.artifact_id,
            artifact_type=p.artifact_type,
            produced_by=p.produced_by,
            payload=p.payload,
            correlation_id=p.correlation_id or env.correlation_id,
            time=when,
            run_id=p.run_id,
        )
        self.artifacts[p.artifact_id] = record
        self.artifact_count += 1
        entry = FeedEntry(
            seq=env.seq,
            time=when,
            artifact_type=p.artifact_type,
            produced_by=p.produced_by,
            correlation_id=record.correlation_id,
            artifact_id=p.artifact_id,
        )
        self.feed.append(entry)
        self._changes.feed.append(entry)
        agent = self.agents.get(p.produced_by)
        if agent is None:
            return  # published from outside any agent (the script itself)
        run = agent.runs.get(p.run_id) if p.run_id else None
        if run is None:
            candidates = [r for r in agent.runs.values() if r.status in ("queued", "running")]
            run = candidates[-1] if candidates else None
        if run is not None:
            run.artifacts.append(record)
            self._touch(agent, run)

    def _on_completed(self, p: AgentCompleted, when: datetime) -> None:
        agent = self._agent(p.agent_name)
        run = self._run(agent, p.run_id, when)
        run.status = "done"
        run.ended = when
        tokens = _metric_tokens(p.metrics)
        if tokens is not None:
            run.reported_tokens = tokens
        for artifact_id in p.artifact_ids:
            record = self.artifacts.get(artifact_id)
            if record is not None and record not in run.artifacts:
                run.artifacts.append(record)
        for part in run.fields.values():
            part.final = True
        self._touch(agent, run)

    def _on_error(self, p: AgentError, when: datetime) -> None:
        agent = self._agent(p.agent_name)
        if p.run_id is None:
            self._on_agent_error(agent, p)
            return
        run = self._run(agent, p.run_id, when)
        run.status = "error"
        run.ended = when
        run.error = f"{sanitize(p.error_type)}: {sanitize(p.error_message)}"
        run.error_detail = sanitize(p.traceback) if p.traceback else None
        self._touch(agent, run)

    def _on_agent_error(self, agent: AgentModel, p: AgentError) -> None:
        """An error of the agent, not of a run (its circuit breaker opened, a where-predicate
        raised): a warning, and a status line under its latest run if it has one. No run
        changes state and no run is made up for it."""
        text = f"{sanitize(p.error_type)}: {sanitize(p.error_message)}"
        self._warn(f"{agent.name}: {text}")
        run = agent.latest
        if run is not None:
            run.parts.append(StatusLines(kind="agent_error", lines=[f"⚠ {text}"]))
            self._touch(agent, run)
        else:
            self._touch(agent)

    def _on_console(self, stream: str, text: str) -> None:
        # One console_output event is one chunk of lines; a trailing newline is dropped.
        text = sanitize(text)
        if text.endswith("\n"):
            text = text[:-1]
        for line in text.split("\n"):
            self._console_line(stream, line)


def _last_line(previous: str, text: str) -> str:
    combined = (previous + text)[-400:]
    lines = [line for line in combined.split("\n") if line.strip()]
    return lines[-1][-200:] if lines else previous


def _metric_tokens(metrics: dict[str, Any]) -> int | None:
    for key in ("tokens", "output_tokens", "completion_tokens", "total_tokens"):
        value = metrics.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return None


def _status_since(run: RunModel, part: FieldText) -> bool:
    """Whether status lines (a tool call, its result) came after `part` in the run."""
    for later in reversed(run.parts):
        if later is part:
            return False
        if isinstance(later, StatusLines):
            return True
    return False
