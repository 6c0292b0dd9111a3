"""Plain line output, for when stdout is not a terminal (``flock-tui script.py | cat``).

Every event becomes readable lines: lifecycle lines, each output field's text once the
field is finished (never one line per token), published artifacts as ``key: value``
lines, the child's console output, warnings, and the end with its exit code. All text
that came from the child or the LLM is sanitised first: no escape sequence from it can
reach the terminal or log viewer that shows this output.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from dataclasses import dataclass, field
from typing import Any, TextIO

from engine.events import (
    AgentActivated,
    AgentCompleted,
    AgentError,
    AgentRegistered,
    ConsoleOutput,
    Envelope,
    MessagePublished,
    RunFinished,
    RunNotice,
    RunStarted,
    StreamingOutput,
)
from flock_tui.sources.base import EventSource, SourceEnded, SourceItem, SourceNotice
from flock_tui.text import count, one_line, sanitize

INDENT = "    "


@dataclass
class _Run:
    label: str
    current_field: str | None = None
    fields: dict[str, list[str]] = field(default_factory=dict)
    printed: dict[str, str] = field(default_factory=dict)
    other: dict[str, list[str]] = field(default_factory=dict)  # log/stdout/stderr partial lines


def _short(ident: str | None) -> str:
    """The first 8 characters of an id from the child (sanitized: ids are its text too)."""
    return sanitize(ident or "-")[:8]


class PlainRenderer:
    """Turns source items into lines on `out`."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.runs: dict[str, _Run] = {}
        self.iterations: dict[str, int] = {}
        self.artifacts = 0
        self.errors = 0
        self.ended: SourceEnded | None = None
        self.finished: RunFinished | None = None

    # -- output helpers ---------------------------------------------------------------

    def _line(self, text: str) -> None:
        self.out.write(text + "\n")

    def _block(self, head: str, text: str) -> None:
        """`head: text` on one line, or `head:` and the text indented below it."""
        text = sanitize(text).rstrip("\n")
        if "\n" not in text and len(text) <= 100:
            self._line(f"{head}: {text}")
            return
        self._line(f"{head}:")
        lead = " " * (len(head) - len(head.lstrip(" "))) + INDENT
        for line in text.split("\n"):
            self._line(lead + line)

    def _run(self, agent: str, run_id: str | None) -> _Run:
        key = run_id or f"{agent}:-"
        run = self.runs.get(key)
        if run is None:
            count = self.iterations.get(agent, 0) + 1
            self.iterations[agent] = count
            run = self.runs[key] = _Run(label=f"[{one_line(agent, 60)} #{count}]")
        return run

    def _flush_field(self, run: _Run, name: str) -> None:
        chunks = run.fields.pop(name, None)
        if run.current_field == name:
            run.current_field = None
        if chunks is None:
            return
        text = "".join(chunks)
        run.printed[name] = text
        self._block(f"{run.label} {one_line(name, 60)}", text)

    def _flush_run(self, run: _Run) -> None:
        for name in list(run.fields):
            self._flush_field(run, name)
        for kind, parts in run.other.items():
            rest = "".join(parts)
            if rest.strip():
                self._line(f"{run.label} ({kind}) {one_line(rest, 2000)}")
        run.other.clear()

    # -- items ------------------------------------------------------------------------

    def handle(self, item: SourceItem) -> None:
        if isinstance(item, Envelope):
            self._envelope(item)
        elif isinstance(item, SourceNotice):
            self._notice(item.level, item.text)
        elif isinstance(item, SourceEnded):
            self._end(item)

    def _envelope(self, envelope: Envelope) -> None:
        try:
            payload = envelope.payload()
        except ValueError:
            payload = None
        match payload:
            case RunStarted():
                self._run_started(payload)
            case AgentRegistered():
                consumes = ", ".join(payload.consumes) or "-"
                publishes = ", ".join(payload.publishes) or "-"
                self._line(
                    one_line(
                        f"[agent] {payload.name} registered: consumes {consumes}"
                        f" -> publishes {publishes}",
                        1000,
                    )
                )
            case AgentActivated():
                run = self._run(payload.agent_name, payload.run_id)
                consumed = ", ".join(payload.consumed_types) or "-"
                self._line(
                    f"{run.label} started on {one_line(consumed, 200)}"
                    f" (run {_short(payload.run_id)})"
                )
            case StreamingOutput():
                self._streaming(payload)
            case MessagePublished():
                self._published(payload)
            case AgentCompleted():
                run = self._run(payload.agent_name, payload.run_id)
                self._flush_run(run)
                tokens = payload.metrics.get("tokens")
                extra = f", {tokens} tokens" if isinstance(tokens, int) else ""
                self._line(f"{run.label} done in {payload.duration_ms / 1000:.1f} s{extra}")
            case AgentError():
                self.errors += 1
                run = self._run(payload.agent_name, payload.run_id)
                self._flush_run(run)
                self._line(
                    f"{run.label} ERROR {one_line(payload.error_type, 100)}:"
                    f" {one_line(payload.error_message, 2000)}"
                )
            case ConsoleOutput():
                for line in sanitize(payload.text).split("\n"):
                    self._line(f"[{payload.stream}] {line}")
            case RunNotice():
                self._notice(payload.level, payload.text)
            case RunFinished():
                self.finished = payload
            case _:
                pass  # an event type this version does not know

    def _notice(self, level: str, text: str) -> None:
        """A SourceNotice or a recorded notice event: the same line either way."""
        self._line(f"[{level}] {one_line(text, 2000)}")

    def _run_started(self, payload: RunStarted) -> None:
        parts = [f"model {payload.model}" if payload.model else None]
        parts.append(f"pid {payload.pid}" if payload.pid else None)
        parts.append(f"mode {payload.runtime_mode}")
        detail = ", ".join(p for p in parts if p)
        argv = " ".join(payload.argv)
        self._line(one_line(f"[run] started {payload.script or ''} {argv} ({detail})", 1000))

    def _streaming(self, payload: StreamingOutput) -> None:
        run = self._run(payload.agent_name, payload.run_id)
        kind = payload.output_type
        if kind == "llm_token":
            name = payload.field or "output"
            if run.current_field is not None and run.current_field != name:
                self._flush_field(run, run.current_field)
            run.current_field = name
            run.fields.setdefault(name, []).append(payload.content)
            if payload.is_final:
                self._flush_field(run, name)
        elif kind == "status":
            if payload.content.strip():
                self._line(f"{run.label} · {one_line(payload.content, 1000)}")
        else:
            parts = run.other.setdefault(kind, [])
            parts.append(payload.content)
            joined = "".join(parts)
            if "\n" in joined:
                *lines, rest = joined.split("\n")
                for line in lines:
                    self._line(f"{run.label} ({kind}) {one_line(line, 2000)}")
                run.other[kind] = [rest] if rest else []

    def _published(self, payload: MessagePublished) -> None:
        self.artifacts += 1
        streamed: dict[str, str] = {}
        if payload.run_id and payload.run_id in self.runs:
            run = self.runs[payload.run_id]
            self._flush_run(run)
            streamed = run.printed
        correlation = f", correlation {_short(payload.correlation_id)}"
        self._line(
            f"[published] {one_line(payload.artifact_type, 100)} by"
            f" {one_line(payload.produced_by, 100)}"
            f" (artifact {_short(payload.artifact_id)}"
            f"{correlation if payload.correlation_id else ''})"
        )
        for key, value in payload.payload.items():
            head = INDENT + one_line(str(key), 60)
            if isinstance(value, str) and streamed.get(key) == value and len(value) > 100:
                self._line(f"{head}: (streamed above, {len(value)} characters)")
            else:
                self._block(head, _value_text(value))

    def _end(self, item: SourceEnded) -> None:
        self.ended = item
        for run in self.runs.values():
            self._flush_run(run)
        code = "unknown" if item.exit_code is None else str(item.exit_code)
        summary = count(self.artifacts, "artifact")
        if self.errors:
            summary += f", {count(self.errors, 'agent error')}"
        reason = one_line(item.reason, 300)
        said = f"code {code}" in reason  # "exited with code 3" needs no "(exit code 3)"
        self._line(f"[end] {reason}{'' if said else f' (exit code {code})'}; {summary}")


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _value_text(value: Any) -> str:
    """Strings as they are; a list as `- item` lines; a dict as `key: value` lines."""
    if isinstance(value, list) and value and all(not isinstance(v, list | dict) for v in value):
        return "\n".join("- " + _scalar(v).replace("\n", "\n  ") for v in value)
    if (
        isinstance(value, dict)
        and value
        and all(not isinstance(v, list | dict) for v in value.values())
    ):
        return "\n".join(f"{k}: {_scalar(v)}".replace("\n", "\n  ") for k, v in value.items())
    return _scalar(value)


def _silence(out: TextIO) -> None:
    """Point `out` at /dev/null so the interpreter's final flush does not fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)


async def run_plain(source: EventSource, out: TextIO) -> SourceEnded:
    """Run `source` to its end, printing plain lines; SIGINT/SIGTERM/SIGHUP stop the source.

    `source` must put a SourceEnded last (wrap it in a TeeSource to be sure of it).
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[SourceItem] = asyncio.Queue()
    renderer = PlainRenderer(out)
    stoppers: list[asyncio.Task[None]] = []

    def request_stop() -> None:
        stoppers.append(asyncio.ensure_future(source.stop()))

    handled = []
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, request_stop)
            handled.append(signum)
    producer = asyncio.create_task(source.run(queue))
    broken = False
    try:
        while True:
            item = await queue.get()
            if not broken:
                try:
                    renderer.handle(item)
                    if queue.empty() or isinstance(item, SourceEnded):
                        out.flush()
                except BrokenPipeError:
                    # The reader went away (`| head`): stop the script, print nothing more.
                    broken = True
                    _silence(out)
                    request_stop()
            if isinstance(item, SourceEnded):
                break
        await producer
        for task in stoppers:
            await task
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        if not producer.done():
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
    return item
