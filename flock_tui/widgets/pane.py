"""AgentPane: one agent's live transcript (all its runs), drawn with the Line API."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from flock_tui.runmodel import AgentModel, ArtifactRecord, FieldText, RunModel, StatusLines
from flock_tui.text import one_line, sanitize
from flock_tui.widgets.artifact import artifact_table, streamed_fields, table_plain
from flock_tui.widgets.document import Group, RenderedBlock, TextBlock
from flock_tui.widgets.format import BADGE_STYLES, fmt_seconds, fmt_tokens
from flock_tui.widgets.lineview import LineView

RUN_HEADER = Style(bold=True, color="bright_cyan")
FIELD_HEADER = Style(bold=True, color="yellow")
STATUS = Style(color="bright_black", italic=True)
ERROR = Style(color="bright_red", bold=True)
ERROR_DETAIL = Style(color="red")
SUBTITLE_INTERVAL = 1.0
MARKDOWN_LIMIT = 50_000
"""Longer fields stay plain text even in Markdown mode (rendering cost)."""


@dataclass(slots=True)
class _RunView:
    """What of one run the pane has already drawn."""

    group: Group
    header: TextBlock
    version: int = -1
    parts: list[tuple[Any, TextBlock, int]] = field(default_factory=list)
    markdown: dict[int, RenderedBlock] = field(default_factory=dict)
    """Finished fields currently drawn as Markdown, by part index."""
    artifacts: int = 0
    error_shown: bool = False
    header_text: str = ""
    gap: str = ""


class AgentPane(LineView):
    """A focusable pane: title = name, model and badge; body = the runs' transcripts."""

    DEFAULT_CSS = """
    AgentPane {
        border: round $panel-lighten-2;
        border-title-align: left;
        border-subtitle-align: right;
        height: 1fr;
        width: 1fr;
        min-height: 3;
        padding: 0 0 0 1;
    }
    AgentPane:focus {
        border: round $accent;
        background-tint: $foreground 4%;
    }
    AgentPane.-active {
        border: round $success;
    }
    AgentPane.-error {
        border: round $error;
    }
    AgentPane.-active:focus, AgentPane.-error:focus {
        border: round $accent;
    }
    """

    def __init__(self, agent: AgentModel, *, max_lines: int = 20_000) -> None:
        super().__init__(max_lines=max_lines, classes="agent-pane")
        self.agent = agent
        self.agent_name = agent.name
        self._runs: dict[str, _RunView] = {}
        self._seen_version = -1
        self._title_key: tuple[Any, ...] = ()
        self._subtitle_key: tuple[Any, ...] = ()
        self._clock: datetime | None = None
        self._subtitle_at = 0.0
        self.markdown = False
        self.jump_scroll = False
        """Set by the grid when many panes share the screen (see LineView.jump_lines)."""
        self.settled = False
        """Set when the source has ended: the tail sits exactly on the bottom row."""

    # ------------------------------------------------------------ sync from state
    def sync(self, clock: datetime | None, *, force: bool = False) -> None:
        """Bring the transcript and the title up to date with the agent model."""
        agent = self.agent
        if agent.version != self._seen_version:
            self._seen_version = agent.version
            for run in agent.runs.values():
                view = self._runs.get(run.run_id)
                if view is None:
                    view = self._new_run_view(run)
                if view.version != run.version:
                    self._sync_run(run, view)
            # The stats ride along when the pane is repainted anyway (it scrolled).
            force = self.update_layout() or force
        if not self.agent.active or self.settled:
            self.snap_to_tail()
        self.update_titles(clock, force=force)

    def jump_lines(self) -> int:
        if self.jump_scroll and not self.settled and self.agent.active:
            return max(0, self.view_height // 3)
        return 0

    def _new_run_view(self, run: RunModel) -> _RunView:
        gap = "\n" if self.document.groups else ""  # a blank line between runs
        group = self.document.group(run.run_id)
        header = TextBlock(style=RUN_HEADER)
        group.add(header)
        view = _RunView(group=group, header=header, gap=gap)
        self._runs[run.run_id] = view
        return view

    def _sync_run(self, run: RunModel, view: _RunView) -> None:
        view.version = run.version
        header = _run_header(run)
        if header != view.header_text:
            view.header.set_text(view.gap + header)
            view.header_text = header
        group = view.group
        parts = view.parts
        for index, part in enumerate(run.parts):
            if index >= len(parts):
                if isinstance(part, FieldText):
                    group.add(TextBlock(f"{sanitize(part.name)}:", style=FIELD_HEADER))
                    block = group.add(TextBlock())
                else:
                    block = group.add(TextBlock(style=STATUS, prefix="⚙ "))
                assert isinstance(block, TextBlock)
                parts.append((part, block, 0))
            _, block, seen = parts[index]
            if isinstance(part, FieldText):
                if part.length != seen:
                    block.append(part.since(seen))
                    parts[index] = (part, block, part.length)
            elif isinstance(part, StatusLines) and len(part.lines) != seen:
                block.append(("\n" if seen else "") + "\n".join(part.lines[seen:]))
                parts[index] = (part, block, len(part.lines))
        while view.artifacts < len(run.artifacts):
            record = run.artifacts[view.artifacts]
            streamed = streamed_fields(run, record.payload)
            group.add(
                RenderedBlock(
                    self._table_renderer(record, streamed), plain=table_plain(record, streamed)
                )
            )
            view.artifacts += 1
        if self.markdown:
            self._apply_markdown(view)
        if run.error and not view.error_shown:
            group.add(TextBlock(f"✗ {run.error}", style=ERROR))
            if run.error_detail:
                group.add(TextBlock(run.error_detail.rstrip("\n"), style=ERROR_DETAIL))
            view.error_shown = True

    # ---------------------------------------------------------------- markdown
    def set_markdown(self, on: bool) -> None:
        """Draw finished fields as Markdown (on) or as the literal streamed text (off)."""
        self.markdown = on
        for view in self._runs.values():
            self._apply_markdown(view)
        self.relayout_view()
        self.update_titles(self._clock, force=True)  # the title says "markdown"

    def _apply_markdown(self, view: _RunView) -> None:
        blocks = view.group.blocks
        for index, (part, text_block, _) in enumerate(view.parts):
            shown = view.markdown.get(index)
            wanted = (
                self.markdown
                and isinstance(part, FieldText)
                and part.final
                and part.length <= MARKDOWN_LIMIT
            )
            if wanted and shown is None:
                shown = RenderedBlock(self._markdown_renderer(part.text), plain=part.text)
                blocks[blocks.index(text_block)] = shown
                view.markdown[index] = shown
            elif not wanted and shown is not None:
                blocks[blocks.index(shown)] = text_block
                text_block.changed_from = 0
                del view.markdown[index]

    def _markdown_renderer(self, text: str) -> Any:
        def render(width: int) -> list[Strip]:
            console: Console = self.app.console
            options = console.options.update_width(max(10, width))
            markdown = Markdown(text, hyperlinks=False)
            return [Strip(line) for line in console.render_lines(markdown, options, pad=False)]

        return render

    def _table_renderer(self, record: ArtifactRecord, streamed: frozenset[str]) -> Any:
        def render(width: int) -> list[Strip]:
            console: Console = self.app.console
            width = max(10, width)
            options = console.options.update_width(width)
            table = artifact_table(record, streamed, width)
            lines = console.render_lines(table, options, pad=False)
            return [Strip(line) for line in lines]

        return render

    # ------------------------------------------------------------------ titles
    def watch_follow(self, follow: bool) -> None:
        """Say in the subtitle when follow-tail is paused (new text arrives below)."""
        if self.is_mounted:
            self.update_titles(self._clock, force=True)

    def update_titles(self, clock: datetime | None, *, force: bool = False) -> None:
        """Refresh the border title (badge) and subtitle (elapsed, tokens, tok/s).

        Setting a border title repaints the whole pane, so while a run streams the
        subtitle is updated when the pane repaints anyway (`force`) or at most every
        SUBTITLE_INTERVAL seconds.
        """
        self._clock = clock
        agent = self.agent
        badge = agent.badge
        title_key = (agent.name, agent.model, badge, agent.iterations, self.markdown)
        now = time.monotonic()
        if not force and title_key == self._title_key:
            if now - self._subtitle_at < SUBTITLE_INTERVAL:
                return
        self._subtitle_at = now
        if title_key != self._title_key:
            self._title_key = title_key
            title = Text()
            title.append(f" {badge.upper()} ", style=BADGE_STYLES[badge])
            title.append(" ")
            title.append(one_line(agent.name, 60), style="bold")
            if agent.model:
                title.append(f" · {one_line(agent.model, 40)}", style="dim")
            if agent.iterations > 1:
                title.append(f" · #{agent.iterations}", style="bold")
            if self.markdown:
                title.append(" · markdown", style="italic")
            self.border_title = title
            self.set_class(agent.active, "-active")
            self.set_class(badge == "error", "-error")
        run = agent.latest
        if run is None or clock is None:
            subtitle_key: tuple[Any, ...] = ("idle",)
            subtitle = Text(_consumes(agent), style="dim")
        else:
            elapsed = run.elapsed(clock)
            tps = run.tokens_per_second(clock)
            subtitle_key = (run.run_id, round(elapsed, 1), run.tokens, round(tps, 1))
            subtitle = Text(
                f"{fmt_seconds(elapsed)} · {fmt_tokens(run.tokens)} tok · {tps:.1f} tok/s"
            )
        if not self.follow:
            subtitle_key = (*subtitle_key, "paused")
            subtitle.append("  ‖ paused · end: follow", style="bold yellow")
        if subtitle_key != self._subtitle_key:
            self._subtitle_key = subtitle_key
            self.border_subtitle = subtitle

    # ------------------------------------------------------------------ queries
    def run_ids(self) -> list[str]:
        return [group.key for group in self.document.groups]

    def run_text(self, run_id: str) -> str:
        """The drawn text of one run (wrapped lines joined), for tests and copying."""
        view = self._runs.get(run_id)
        if view is None:
            return ""
        return "\n".join(block.text() for block in view.group.blocks)


def _consumes(agent: AgentModel) -> str:
    if agent.consumes:
        return "waits for " + one_line(", ".join(agent.consumes), 50)
    return "idle"


def _triggers(types: list[str]) -> str:
    """'Analysis ×3, Story' for ['Analysis', 'Analysis', 'Analysis', 'Story']."""
    counts: dict[str, int] = {}
    for name in types:
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{n} ×{c}" if c > 1 else n for n, c in counts.items()) or "—"


def _run_header(run: RunModel) -> str:
    trigger = _triggers(run.trigger_types)
    text = f"▌ run #{run.iteration} ← {one_line(trigger, 60)}"
    if run.status == "done" and run.ended is not None:
        text += f" · done in {fmt_seconds(run.elapsed(run.ended))} · {fmt_tokens(run.tokens)} tok"
    elif run.status == "error":
        text += " · failed"
    return text
