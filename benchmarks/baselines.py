"""The two baselines, fed by the same producer through the same source as our renderer.

(a) Flock's way: ONE Rich ``Live`` panel showing the whole accumulated output of the one
    agent that may stream (Flock allows only one). Like Flock's RichSink, every token
    joins the whole buffer and rebuilds the panel; ``per_token=True`` re-renders it on
    every token (``live.update(..., refresh=True)``), ``per_token=False`` leaves drawing
    to Live's own 4 Hz auto-refresh (Flock's ``refresh_per_second=4``).
(b) A naive Textual app: one ``Static`` per agent in a grid; every token replaces the
    pane's whole text with ``Static.update(whole_text)`` (the anti-pattern, O(length)).

Both record through `benchmarks.recorder.Recorder` exactly like our renderer.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Static

from benchmarks.recorder import CountingQueue, Recorder
from engine.events import Envelope
from flock_tui.sources.base import SourceEnded, SourceItem


class _StampingLive(Live):
    """A Live that stamps pending latencies after each refresh (ours or the 4 Hz thread)."""

    recorder: Recorder | None = None

    def refresh(self) -> None:
        super().refresh()
        if self.recorder is not None:
            self.recorder.frame()
            self.recorder.stamp()


def _flock_panel(agent: str, text: str, tokens: int) -> Panel:
    """A panel shaped like Flock's streaming artifact display: metadata and the field."""
    meta = Text.assemble(
        ("type: ", "bold"),
        "Draft   ",
        ("produced_by: ", "bold"),
        agent,
        "   ",
        ("created_at: ", "bold"),
        "streaming...",
        "   ",
        ("tokens: ", "bold"),
        str(tokens),
    )
    return Panel(
        Group(meta, Text("draft:", style="bold cyan"), Text(text)),
        title=f"{agent} - synthetic",
        border_style="green",
    )


async def run_rich_live(
    source: Any, recorder: Recorder, *, per_token: bool, max_seconds: float | None = None
) -> None:
    """Baseline (a). SOURCE must produce one agent's tokens.

    With MAX_SECONDS, stops after that long even if tokens are still queued (it cannot
    keep up at high rates: every token re-renders the whole text) and notes the backlog.
    """
    stop_at = time.monotonic() + max_seconds if max_seconds else None
    console = Console()
    live = _StampingLive(
        _flock_panel("agent-00", "", 0),
        console=console,
        refresh_per_second=4,
        auto_refresh=not per_token,
        transient=False,
        vertical_overflow="crop",
    )
    queue: asyncio.Queue[SourceItem] = asyncio.Queue()
    task = asyncio.create_task(source.run(CountingQueue(queue, recorder)))  # type: ignore[arg-type]
    sampler = asyncio.create_task(recorder.sample_forever())
    buffers: dict[str, list[str]] = {}
    try:
        with live:
            live.recorder = recorder
            while True:
                item = await queue.get()
                if isinstance(item, SourceEnded):
                    break
                if stop_at is not None and time.monotonic() > stop_at:
                    recorder.notes.append(
                        f"stopped after {max_seconds:g}s with "
                        f"{recorder.received - recorder.applied} tokens not yet drawn"
                    )
                    break
                if not isinstance(item, Envelope) or item.event_type != "streaming_output":
                    continue
                agent = str(item.data.get("agent_name", "?"))
                buffer = buffers.setdefault(agent, [])
                buffer.append(str(item.data.get("content", "")))
                panel = _flock_panel(agent, "".join(buffer), len(buffer))
                recorder.on_applied([item])
                live.update(panel, refresh=per_token)
    finally:
        sampler.cancel()
        await source.stop()
        await asyncio.wait_for(task, 10)


class NaiveStaticApp(App[None]):
    """Baseline (b): Static.update(whole_text) on every token, one Static per agent."""

    CSS = """
    Screen { layout: grid; grid-gutter: 0; }
    .pane { height: 1fr; border: round $primary; overflow: hidden; }
    """

    def __init__(
        self, source: Any, recorder: Recorder, agents: int, max_seconds: float | None = None
    ) -> None:
        super().__init__()
        self.max_seconds = max_seconds
        self.source = source
        self.recorder = recorder
        self.agents = agents
        self.panes: dict[str, Static] = {}
        self.buffers: dict[str, list[str]] = {}

    def compose(self) -> ComposeResult:
        for index in range(self.agents):
            name = f"agent-{index:02d}"
            pane = Static("", classes="pane")
            pane.border_title = name
            self.panes[name] = pane
            yield pane

    def on_mount(self) -> None:
        columns = max(1, math.ceil(math.sqrt(self.agents)))
        rows = max(1, math.ceil(self.agents / columns))
        self.screen.styles.grid_size_columns = columns
        self.screen.styles.grid_size_rows = rows
        self.run_worker(self._consume(), exclusive=True)
        self.run_worker(self.recorder.sample_forever())

    async def _consume(self) -> None:
        stop_at = time.monotonic() + self.max_seconds if self.max_seconds else None
        queue: asyncio.Queue[SourceItem] = asyncio.Queue()
        task = asyncio.create_task(self.source.run(CountingQueue(queue, self.recorder)))  # type: ignore[arg-type]
        try:
            while True:
                batch = [await queue.get()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                applied: list[Envelope] = []
                ended = False
                for item in batch:
                    if isinstance(item, SourceEnded):
                        ended = True
                    elif isinstance(item, Envelope) and item.event_type == "streaming_output":
                        agent = str(item.data.get("agent_name", "?"))
                        buffer = self.buffers.setdefault(agent, [])
                        buffer.append(str(item.data.get("content", "")))
                        pane = self.panes.get(agent)
                        if pane is not None:
                            pane.update(Text("".join(buffer)))  # the anti-pattern
                        applied.append(item)
                if applied and self.recorder.on_applied(applied):
                    self.call_after_refresh(self.recorder.stamp)
                if ended:
                    break
                if stop_at is not None and time.monotonic() > stop_at:
                    self.recorder.notes.append(
                        f"stopped after {self.max_seconds:g}s with "
                        f"{self.recorder.received - self.recorder.applied} tokens not yet drawn"
                    )
                    break
        finally:
            await self.source.stop()
            await asyncio.wait_for(task, 10)
        self.set_timer(0.3, self.exit)

    def _display(self, screen: Any, renderable: Any) -> None:
        if renderable is not None and not self._batch_count:
            self.recorder.frame()
        super()._display(screen, renderable)
