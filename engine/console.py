"""ConsoleSink: readable line output for a plain `python script.py` run.

No Rich Live region: every event becomes whole lines, so agents running in parallel
never interleave mid-line. Streamed text is collected per (run, field) and printed as
one block when the field is final. LLM text is always `rich.text.Text` (never markup)
and is stripped of terminal control sequences first.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from engine.events import (
    AgentActivated,
    AgentCompleted,
    AgentError,
    AgentRegistered,
    Envelope,
    MessagePublished,
    RunNotice,
    RunStarted,
    StreamingOutput,
)

_ANSI = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC ... BEL/ST
    r"|\x1b[P^_X][^\x1b]*(?:\x1b\\)?"  # DCS/PM/APC/SOS ... ST
    r"|\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b[@-Z\\-_]"  # other 2-byte escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_COLOURS = (
    "cyan",
    "magenta",
    "green",
    "yellow",
    "blue",
    "bright_cyan",
    "bright_magenta",
    "bright_green",
)
_PREVIEW = 160


def strip_control(text: str) -> str:
    """Remove ANSI/OSC escape sequences and control characters (keeps \\n and \\t)."""
    return _CONTROL.sub("", _ANSI.sub("", text.replace("\r\n", "\n")))


def _count_types(names: list[str]) -> str:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(name if n == 1 else f"{n} × {name}" for name, n in counts.items())


def _colour(name: str) -> str:
    return _COLOURS[zlib.crc32(name.encode()) % len(_COLOURS)]


class ConsoleSink:
    """Prints lifecycle lines, finished fields and published artifacts as tables."""

    def __init__(self, console: Console | None = None, *, show_registrations: bool = True) -> None:
        self.console = console or Console(highlight=False, soft_wrap=False)
        self.show_registrations = show_registrations
        self._buffers: dict[tuple[str, str | None], list[str]] = {}
        self._streamed: dict[str, set[str]] = {}

    # -- helpers -----------------------------------------------------------------------
    def _prefix(self, agent: str, mark: str, mark_style: str = "bold") -> Text:
        text = Text()
        text.append(agent, style=f"bold {_colour(agent)}")
        text.append(f" {mark} ", style=mark_style)
        return text

    def _print(self, text: Text | Table) -> None:
        self.console.print(text)

    # -- the sink ------------------------------------------------------------------------
    def send(self, envelope: Envelope) -> None:
        try:
            payload = envelope.payload()
        except Exception:
            return
        if isinstance(payload, StreamingOutput):
            self._on_stream(payload)
        elif isinstance(payload, AgentActivated):
            line = self._prefix(payload.agent_name, "▶", "bold green")
            inputs = _count_types(payload.consumed_types) or "direct input"
            line.append(f"run #{payload.iteration} on {inputs}")
            if payload.produced_types:
                line.append(f" → {', '.join(payload.produced_types)}", style="dim")
            self._print(line)
        elif isinstance(payload, MessagePublished):
            self._print(self._artifact_table(payload))
        elif isinstance(payload, AgentCompleted):
            line = self._prefix(payload.agent_name, "✓", "bold green")
            line.append(f"done in {payload.duration_ms / 1000:.1f}s")
            tokens = payload.metrics.get("tokens")
            if tokens:
                line.append(f" · {tokens} tokens", style="dim")
            self._print(line)
            self._drop_run(payload.run_id)
        elif isinstance(payload, AgentError):
            line = self._prefix(payload.agent_name, "✗", "bold red")
            line.append(f"{payload.error_type}: ", style="bold red")
            line.append(strip_control(payload.error_message))
            self._print(line)
            if payload.run_id:
                self._drop_run(payload.run_id)
        elif isinstance(payload, AgentRegistered):
            if self.show_registrations:
                line = self._prefix(payload.name, "·", "dim")
                consumes = " | ".join(payload.consumes) or "—"
                publishes = ", ".join(payload.publishes) or "—"
                line.append(f"{consumes} → {publishes}", style="dim")
                self._print(line)
        elif isinstance(payload, RunNotice):
            style = "dim" if payload.level == "info" else "bold yellow"
            self._print(Text(f"⚠ {strip_control(payload.text)}", style=style))
        elif isinstance(payload, RunStarted):
            line = Text("flock ", style="bold")
            line.append(
                f"{payload.script or 'run'} · model {payload.model} · {payload.runtime_mode}",
                style="dim",
            )
            self._print(line)

    def _on_stream(self, payload: StreamingOutput) -> None:
        content = strip_control(payload.content)
        if payload.output_type == "llm_token":
            key = (payload.run_id, payload.field)
            self._buffers.setdefault(key, []).append(content)
            if payload.is_final:
                text = "".join(self._buffers.pop(key)).strip()
                if payload.field:
                    self._streamed.setdefault(payload.run_id, set()).add(payload.field)
                line = self._prefix(payload.agent_name, "│", _colour(payload.agent_name))
                line.append(f"{payload.field or 'output'}: ", style="bold")
                line.append(text)
                self._print(line)
        else:
            line = self._prefix(
                payload.agent_name, "⚙" if payload.output_type == "status" else "·", "yellow"
            )
            line.append(content.strip())
            self._print(line)

    def _drop_run(self, run_id: str) -> None:
        for key in [k for k in self._buffers if k[0] == run_id]:
            del self._buffers[key]
        self._streamed.pop(run_id, None)

    def _artifact_table(self, payload: MessagePublished) -> Table:
        table = Table(
            title=Text(f"{payload.artifact_type} ← {payload.produced_by}", style="bold"),
            title_justify="left",
            show_header=False,
            expand=False,
        )
        table.add_column("field", style="bold", no_wrap=True)
        table.add_column("value", overflow="fold")
        streamed = self._streamed.get(payload.run_id or "", set())
        for key, value in payload.payload.items():
            table.add_row(Text(strip_control(str(key))), self._cell(value, key in streamed))
        return table

    def _cell(self, value: Any, shown_above: bool) -> Text:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            text = "\n".join(f"• {v}" for v in value)
        elif isinstance(value, str):
            text = value
        else:
            import json

            text = json.dumps(value, ensure_ascii=False)
        text = strip_control(text)
        if shown_above and len(text) > _PREVIEW:
            return Text(text[:_PREVIEW] + "… (shown above)")
        return Text(text)

    async def aclose(self) -> None:
        return None
