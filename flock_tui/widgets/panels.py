"""The smaller widgets: status bar, agent strip, feed and console."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from flock_tui.runmodel import AgentModel, ConsoleLine, FeedEntry
from flock_tui.state import RunState
from flock_tui.text import count, one_line
from flock_tui.widgets.document import TextBlock
from flock_tui.widgets.format import BADGE_DOTS, fmt_seconds, fmt_time, fmt_tokens
from flock_tui.widgets.lineview import LineView

DOT_STYLES: dict[str, str] = {
    "idle": "grey50",
    "queued": "yellow",
    "running": "bold green",
    "done": "blue",
    "error": "bold red",
}


class _Line(Widget):
    """One line of text that repaints without a layout pass (Static.update forces one,
    and a screen-wide layout per batch would repaint every pane)."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._text = Text()
        self._last: str = ""

    def set_text(self, text: Text) -> None:
        key = text.plain + repr(text.spans)
        if key != self._last:
            self._last = key
            self._text = text
            self.refresh()

    def render(self) -> Text:
        return self._text


class StatusBar(_Line):
    """Totals: child state, agents running, artifacts, tokens, elapsed, exit code."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        width: 1fr;
        background: $panel;
        color: $foreground;
    }
    """

    #: while only the token count and the elapsed time move, repaint at most this often
    #: (the app's tick repaints it every 0.5 s anyway). A repaint every frame would make
    #: every frame's dirty area span from the panes down to this bottom row, so Textual
    #: would re-render every widget in between.
    THROTTLE: ClassVar[float] = 0.4

    def __init__(self, title: str, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.title_text = title
        self.dashboard_url: str | None = None  # with --web: where the browser view is
        self._shape: tuple[object, ...] = ()
        self._shown_at = float("-inf")

    def show(self, state: RunState, *, now: float | None = None) -> None:
        """Repaint the totals; token and time changes alone are throttled (`THROTTLE`)."""
        shape = (
            state.ended,
            state.source_ended,
            state.exit_code,
            state.finish_reason,
            state.child_state,
            state.running_agents,
            len(state.agents),
            state.artifact_count,
            state.warning_count,
            self.title_text,
            self.dashboard_url,
        )
        now = time.monotonic() if now is None else now
        if shape == self._shape and now - self._shown_at < self.THROTTLE:
            return
        self._shape = shape
        self._shown_at = now
        text = Text(no_wrap=True, overflow="ellipsis")
        if state.ended:
            code = state.exit_code
            if code is None:
                label, style = " ENDED · no exit code ", "bold black on yellow"
            else:
                label = f" FINISHED · exit {code} "
                style = "bold black on green" if code == 0 else "bold white on red"
            reason = state.finish_reason
            if reason and code not in (None, 0) and reason != f"exited with code {code}":
                label = label.rstrip() + f" · {one_line(reason, 40)} "
            text.append(label, style=style)
        elif state.child_state == "running":
            text.append(" RUNNING ", style="bold black on green")
        else:
            text.append(" STARTING ", style="bold black on yellow")
        text.append(f" {state.running_agents}/{len(state.agents)} running", style="bold")
        text.append(f" · {count(state.artifact_count, 'artifact')}")
        text.append(f" · {fmt_tokens(state.tokens)} tok")
        text.append(f" · {fmt_seconds(state.elapsed)}")
        if state.warning_count:
            text.append(f" · ⚠ {count(state.warning_count, 'warning')} (c)", style="bold yellow")
        if self.dashboard_url:
            text.append(f"  dashboard {one_line(self.dashboard_url, 120)}", style="bold cyan")
        text.append(f"  {one_line(self.title_text, 60)}", style="dim")
        self.set_text(text)


class AgentStrip(_Line):
    """One dot per agent, so an active agent is never hidden: shown when panes are paged."""

    DEFAULT_CSS = """
    AgentStrip {
        height: 1;
        width: 1fr;
        background: $boost;
        display: none;
    }
    """

    def show(self, agents: Sequence[AgentModel], page: int, pages: int, per_page: int) -> None:
        if pages <= 1:
            self.display = False
            return
        self.display = True
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" page {page + 1}/{pages} ({{ }}) ", style="bold")
        first, last = page * per_page, (page + 1) * per_page
        off_page: list[str] = []
        for index, agent in enumerate(agents):
            badge = agent.badge
            here = first <= index < last
            style = DOT_STYLES[badge] + ("" if here else " dim")
            text.append(BADGE_DOTS[badge], style=Style.parse(style) + Style(underline=here))
            if not here and agent.active:
                off_page.append(agent.name)
        if off_page:
            shown = ", ".join(one_line(name, 20) for name in off_page[:6])
            more = f" (+{len(off_page) - 6})" if len(off_page) > 6 else ""
            text.append(f"  ● active elsewhere: {shown}{more}", style="bold green")
        self.set_text(text)


class FeedView(LineView):
    """Blackboard activity: each published artifact with time, type, producer, correlation."""

    DEFAULT_CSS = """
    FeedView {
        width: 44;
        max-width: 40%;  /* a narrow terminal keeps most of its width for the panes */
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-align: left;
        padding: 0 0 0 1;
    }
    FeedView:focus { border: round $accent; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(max_lines=5_000, id=id)
        self.border_title = "blackboard"
        self._block = self.document.group("feed").add(TextBlock())
        self._count = 0

    def add_entries(self, entries: Sequence[FeedEntry]) -> None:
        lines = []
        for entry in entries:
            corr = one_line(entry.correlation_id or "-")[:8]
            lines.append(
                f"{fmt_time(entry.time)} {one_line(entry.artifact_type, 24)}"
                f" ← {one_line(entry.produced_by, 20)} · {corr}"
            )
        assert isinstance(self._block, TextBlock)
        self._block.append(("\n" if self._count else "") + "\n".join(lines))
        self._count += len(entries)
        self.border_title = f"blackboard · {count(self._count, 'artifact')}"
        self.update_layout()


class ConsoleView(LineView):
    """The child's own stdout/stderr and the source's warnings."""

    DEFAULT_CSS = """
    ConsoleView {
        height: 12;
        width: 1fr;
        border: round $panel-lighten-2;
        border-title-align: left;
        padding: 0 0 0 1;
    }
    ConsoleView:focus { border: round $accent; }
    """

    STYLES: dict[str, Style] = {
        "stdout": Style(),
        "stderr": Style(color="bright_red"),
        "warning": Style(color="yellow", bold=True),
        "info": Style(color="cyan"),
    }

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(max_lines=10_000, id=id)
        self.border_title = "console"
        self._kind = ""
        self._block: TextBlock | None = None
        self._groups = 0
        self.lines_seen = 0

    def _write(self, kind: str, lines: list[str]) -> None:
        if not lines:
            return
        if kind != self._kind or self._block is None:
            self._groups += 1
            group = self.document.group(f"g{self._groups}")
            block = TextBlock(style=self.STYLES[kind], prefix="⚠ " if kind == "warning" else "")
            group.add(block)
            self._block, self._kind = block, kind
            self._block.append("\n".join(lines))
        else:
            self._block.append("\n" + "\n".join(lines))
        self.lines_seen += len(lines)

    def add(self, console: Sequence[ConsoleLine], warnings: Sequence[str]) -> None:
        run: list[str] = []
        kind = ""
        for line in console:
            if line.stream != kind:
                self._write(kind, run)
                run, kind = [], line.stream
            run.append(line.text)
        self._write(kind, run)
        self._write("warning", list(warnings))
        self.border_title = f"console · {count(self.lines_seen, 'line')}"
        self.update_layout()
