"""FlockApp: the Textual multiplexer, one live pane per agent, fed by an EventSource.

A worker runs `source.run(queue)`; the dispatcher drains the queue in batches (everything
available), folds the batch into the pure `RunState`, then syncs only the widgets the batch
touched, inside one `batch_update()`. Under load it waits a little before draining again
so a burst of tokens becomes one repaint per pane (adaptive coalescing); when idle the
first event is drawn at once. The event rate over the last second also decides whether a
crowded grid scrolls following panes in jumps (under load) or line by line (exact tail).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Footer, Static

from engine.events import Envelope
from flock_tui.sources.base import EventSource, SourceEnded, SourceItem, SourceNotice
from flock_tui.state import RunState
from flock_tui.widgets.grid import PaneGrid
from flock_tui.widgets.help import HelpScreen
from flock_tui.widgets.pane import AgentPane
from flock_tui.widgets.panels import AgentStrip, ConsoleView, FeedView, StatusBar

FEED_MIN_WIDTH = 120
"""The feed is shown by default on terminals at least this wide."""

STOP_TIMEOUT = 8.0
"""Seconds to wait for the source to stop and report its exit code on quit."""


class _MainArea(Horizontal):
    """Panes and feed; tells the app when the terminal width changed."""

    def on_resize(self) -> None:
        app = self.app
        if isinstance(app, FlockApp):
            app._apply_panels()


class FlockApp(App[int]):
    """Watch every agent of a run stream at once."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "flock-tui"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("tab,]", "next_pane", "Next", priority=True),
        Binding("shift+tab,[", "previous_pane", "Prev", priority=True),
        Binding("z,enter", "zoom", "Zoom"),
        Binding("m", "toggle_markdown", "Markdown"),
        Binding("f", "toggle_feed", "Feed"),
        Binding("c", "toggle_console", "Console"),
        Binding("}", "next_page", "Next page", show=False),
        Binding("{", "previous_page", "Prev page", show=False),
        Binding("question_mark", "help", "Help"),
    ]

    coalesce_min: ClassVar[float] = 1 / 30
    """Shortest gap between two batches under load (seconds)."""
    coalesce_max: ClassVar[float] = 1 / 12
    """Longest gap between two batches under load (seconds)."""
    coalesce_factor: ClassVar[float] = 3.0
    """Under load, wait this many times the cost of the last batch before the next."""
    tick_interval: ClassVar[float] = 0.5
    """Seconds between live clock ticks (live runs only)."""
    gc_freeze_interval: ClassVar[float] = 30.0
    """Seconds between moves of long-lived objects out of the collector's scans."""
    load_rate: ClassVar[float] = 500.0
    """Events per second (over the last second) above which the app is under load: a
    crowded grid then scrolls following panes in jumps (see PaneGrid.set_under_load)."""
    load_rate_low: ClassVar[float] = 350.0
    """The app is no longer under load once the rate falls below this (hysteresis)."""
    load_window: ClassVar[float] = 1.0
    """Seconds over which the event rate is measured."""

    class PaneAdded(Message):
        """A pane was created for an agent."""

        def __init__(self, agent_name: str) -> None:
            super().__init__()
            self.agent_name = agent_name

    class RunEnded(Message):
        """The source ended; `exit_code` is the child's exit code (None if unknown)."""

        def __init__(self, exit_code: int | None, reason: str) -> None:
            super().__init__()
            self.exit_code = exit_code
            self.reason = reason

    def __init__(
        self,
        source: EventSource,
        *,
        exit_on_finish: bool = False,
        title: str | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.exit_on_finish = exit_on_finish
        self.title = title or f"flock-tui · {getattr(source, 'description', 'run')}"
        self.state = RunState()
        self.queue: asyncio.Queue[SourceItem] = asyncio.Queue()
        self.panes: dict[str, AgentPane] = {}
        self.source_finished = asyncio.Event()
        """Set once the source's SourceEnded has been applied and drawn."""
        self._source_applied = asyncio.Event()  # set by the dispatcher itself
        self.live = bool(getattr(source, "live", True))
        self.batches = 0
        self.events_seen = 0
        self._last_flush = 0.0
        self._gc_frozen_at = float("-inf")
        self._batch_cost = 0.0
        self._recent: deque[tuple[float, int]] = deque()
        """(time, events) of the batches applied within the last `load_window` seconds."""
        self._recent_events = 0
        self.under_load = False
        """The event rate is high: a crowded grid scrolls in jumps (see `load_rate`)."""
        self._quitting = False
        self._feed_wanted: bool | None = None
        """None: shown when the terminal is at least FEED_MIN_WIDTH wide; else the user's choice."""
        self._console_wanted = False
        self._grid: PaneGrid | None = None
        self._feed: FeedView | None = None
        self._console: ConsoleView | None = None
        self._status: StatusBar | None = None

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield StatusBar(self.title, id="status")
        yield AgentStrip(id="strip")
        with _MainArea(id="main"):
            with Vertical(id="left"):
                yield Static(
                    f"waiting for events from {getattr(self.source, 'description', 'the source')}…",
                    id="waiting",
                    markup=False,
                )
                yield PaneGrid(id="panes")
            yield FeedView(id="feed")
        yield ConsoleView(id="console")
        yield Footer()

    @property
    def grid(self) -> PaneGrid:
        if self._grid is None:
            self._grid = self.query_one(PaneGrid)
        return self._grid

    @property
    def feed(self) -> FeedView:
        if self._feed is None:
            self._feed = self.query_one(FeedView)
        return self._feed

    @property
    def console_view(self) -> ConsoleView:
        if self._console is None:
            self._console = self.query_one(ConsoleView)
        return self._console

    def on_mount(self) -> None:
        self.grid.display = False
        self._apply_panels()
        self.status_bar.show(self.state)
        self.run_worker(self._run_source(), name="source", group="source", exit_on_error=False)
        self.run_worker(self._dispatch(), name="dispatcher", group="dispatcher")
        if self.live:
            self.set_interval(self.tick_interval, self._tick)
        self.set_interval(self.load_window / 2, self._update_load)  # notices a stream pausing

    @property
    def status_bar(self) -> StatusBar:
        if self._status is None:
            self._status = self.query_one(StatusBar)
        return self._status

    # ----------------------------------------------------------------- the source
    async def _run_source(self) -> None:
        try:
            await self.source.run(self.queue)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broken source must not take the screen with it
            self.queue.put_nowait(SourceNotice("error", f"event source failed: {exc!r}"))
            self.queue.put_nowait(SourceEnded(exit_code=None, reason=f"source failed: {exc}"))

    async def _dispatch(self) -> None:
        queue = self.queue
        while True:
            item = await queue.get()
            wait = self._next_gap() - (time.monotonic() - self._last_flush)
            if wait > 0:  # under load: let more arrive, then draw them together
                await asyncio.sleep(wait)
            batch = [item]
            while True:
                try:
                    batch.append(queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            started = time.monotonic()
            ended = self._apply_batch(batch)
            now = time.monotonic()
            self._batch_cost = now - started
            self._last_flush = now
            self.note_applied(len(batch), now)
            self._freeze_long_lived(now)
            self.events_applied([item for item in batch if isinstance(item, Envelope)])
            if ended is not None:
                self._on_source_ended(ended)
            await asyncio.sleep(0)

    def _freeze_long_lived(self, now: float) -> None:
        """Keep full garbage collections short while streaming.

        Textual's and the app's start-up objects, and the transcript so far, live for the
        whole run; a full collection scans them all (pauses of 60-80 ms every ~1.2 s at
        16 panes x 50 tok/s). Moving them to the permanent generation after the first
        batch, and again every `gc_freeze_interval` seconds, keeps each scan to what is new.
        """
        if now - self._gc_frozen_at < self.gc_freeze_interval:
            return
        self._gc_frozen_at = now
        gc.collect(1)  # the young generations only: cheap, and little garbage gets frozen
        gc.freeze()

    def note_applied(self, count: int, now: float) -> None:
        """Count `count` events applied at monotonic time `now`; re-judge the load."""
        self._recent.append((now, count))
        self._recent_events += count
        self._update_load(now)

    def event_rate(self, now: float | None = None) -> float:
        """Events per second applied over the last `load_window` seconds."""
        now = time.monotonic() if now is None else now
        recent = self._recent
        while recent and recent[0][0] < now - self.load_window:
            self._recent_events -= recent.popleft()[1]
        return self._recent_events / self.load_window

    def _update_load(self, now: float | None = None) -> None:
        """Under load or not, from the event rate (with hysteresis); tells the grid."""
        rate = self.event_rate(now)
        under_load = rate > (self.load_rate_low if self.under_load else self.load_rate)
        if under_load != self.under_load:
            self.under_load = under_load
            self.grid.set_under_load(under_load)

    def _next_gap(self) -> float:
        return min(
            self.coalesce_max, max(self.coalesce_min, self._batch_cost * self.coalesce_factor)
        )

    def events_applied(self, batch: list[Envelope]) -> None:
        """Hook called right after each batch of events has been applied (for benchmarks)."""

    def _apply_batch(self, batch: list[SourceItem]) -> SourceEnded | None:
        state = self.state
        ended: SourceEnded | None = None
        for item in batch:
            try:
                state.apply(item)
            except Exception as exc:  # a bug or an event we cannot fold: warn, go on
                where = f"seq {item.seq}" if isinstance(item, Envelope) else type(item).__name__
                state.apply(SourceNotice("error", f"could not apply {where}: {exc!r}"[:300]))
            if isinstance(item, SourceEnded):
                ended = item
        self.batches += 1
        self.events_seen += len(batch)
        changes = state.take_changes()
        if not changes:
            return ended
        with self.batch_update():
            for name in changes.new_agents:
                self._add_pane(name)
            clock = state.clock
            grid = self.grid
            visible = grid.visible_panes()
            final = changes.ended
            if final:
                for pane in grid.panes:
                    pane.settled = True
                    pane.snap_to_tail()
            for name in changes.agents:
                self.panes[name].sync(clock, force=final)
            for pane in grid.panes if final else visible:
                # the clock moved: refresh elapsed and tok/s (throttled while streaming)
                if final or (pane.agent.active and pane.agent_name not in changes.agents):
                    pane.update_titles(clock, force=final)
            if changes.feed:
                self.feed.add_entries(changes.feed)
            if changes.console or changes.warnings:
                self.console_view.add(changes.console, changes.warnings)
            status = self.status_bar
            status.dashboard_url = getattr(self.source, "dashboard_url", None)  # --web sources
            status.show(state)
            if changes.agents or changes.new_agents:
                self._update_strip()
        return ended

    def _add_pane(self, name: str) -> None:
        agent = self.state.agents[name]
        pane = AgentPane(agent)
        self.panes[name] = pane
        grid = self.grid
        if not grid.display:
            grid.display = True
            self.query_one("#waiting").display = False
        grid.add_pane(pane)
        if len(self.panes) == 1:
            self.call_after_refresh(self._focus_pane, pane)
        self.post_message(self.PaneAdded(name))

    def _update_strip(self) -> None:
        grid = self.grid
        plan = grid.layout_plan
        self.query_one(AgentStrip).show(
            list(self.state.agents.values()), grid.page, plan.pages, plan.per_page
        )

    def _on_source_ended(self, ended: SourceEnded) -> None:
        self._source_applied.set()
        code = self.state.exit_code
        if not self.panes:
            self._ended_without_agents(code, self.state.finish_reason or ended.reason)
        self.post_message(self.RunEnded(code, self.state.finish_reason or ended.reason))
        if self.exit_on_finish and not self._quitting:
            self.call_after_refresh(self._finish)
        self.call_after_refresh(self.source_finished.set)

    def _ended_without_agents(self, code: int | None, reason: str) -> None:
        """No agent ever showed up: say so where the panes would be, and open the console
        when the script said anything (its traceback, most likely)."""
        said = bool(self.state.console or self.state.warnings)
        text = f"The run ended before any agent started: {reason}"
        text += f" (exit code {code})." if code is not None else "."
        if said:
            text += " The script's output is in the console below (c hides it)."
        self.query_one("#waiting", Static).update(text)
        if said and not self.console_visible:
            self.action_toggle_console()

    def _finish(self) -> None:
        self._exit_with_code()

    def _tick(self) -> None:
        if self.state.ended or self.state.source_ended:
            return
        self.state.tick(datetime.now(UTC))
        clock = self.state.clock
        for pane in self.grid.visible_panes():
            if pane.agent.active:
                pane.update_titles(clock)  # throttled: at most once a second per pane
        self.status_bar.show(self.state)

    # ----------------------------------------------------------------- focus
    def _pane_list(self) -> list[AgentPane]:
        return self.grid.panes

    def focused_pane(self) -> AgentPane | None:
        focused = self.focused
        return focused if isinstance(focused, AgentPane) else None

    def _focus_pane(self, pane: AgentPane) -> None:
        grid = self.grid
        if grid.zoomed is not None and grid.zoomed is not pane:
            grid.zoomed.remove_class("-zoomed")
            grid.zoomed = pane
            pane.add_class("-zoomed")
            grid.relayout()
        page = grid.page_of(pane)
        if page != grid.page:
            grid.show_page(page)
            self._update_strip()
        pane.focus(scroll_visible=False)

    def _move_focus(self, step: int) -> None:
        """Tab order: the agent panes, then the console when it is shown (so its lines
        scroll with the keys too)."""
        targets: list[Widget] = list(self._pane_list())
        if self.console_visible:
            targets.append(self.console_view)
        if not targets:
            return
        current = self.focused
        index = targets.index(current) if current in targets else (-1 if step > 0 else 0)
        target = targets[(index + step) % len(targets)]
        if isinstance(target, AgentPane):
            self._focus_pane(target)
        else:
            target.focus(scroll_visible=False)

    def action_next_pane(self) -> None:
        self._move_focus(1)

    def action_previous_pane(self) -> None:
        self._move_focus(-1)

    def _turn_page(self, step: int) -> None:
        grid = self.grid
        plan = grid.layout_plan
        if plan.pages <= 1:
            return
        grid.show_page((grid.page + step) % plan.pages)
        self._update_strip()
        visible = grid.visible_panes()
        if visible:
            visible[0].focus(scroll_visible=False)

    def action_next_page(self) -> None:
        self._turn_page(1)

    def action_previous_page(self) -> None:
        self._turn_page(-1)

    # ------------------------------------------------------------------ zoom
    def action_zoom(self) -> None:
        grid = self.grid
        if grid.zoomed is not None:
            pane = grid.zoomed
            grid.zoomed = None
            pane.remove_class("-zoomed")
            grid.remove_class("-zoomed")
            grid.relayout()
            self._apply_panels()
            self._restore_scroll(pane)
            self._update_strip()
            return
        pane = self.focused_pane() or (grid.visible_panes() or [None])[0]
        if pane is None:
            return
        pane.saved_scroll = (pane.top, pane.follow)
        grid.zoomed = pane
        pane.add_class("-zoomed")
        grid.add_class("-zoomed")
        grid.relayout()
        self._apply_panels()
        pane.focus(scroll_visible=False)

    def _restore_scroll(self, pane: AgentPane) -> None:
        saved = getattr(pane, "saved_scroll", None)
        if saved is None:
            return
        top, follow = saved

        def restore() -> None:
            pane.relayout_view()
            if follow:
                pane.scroll_to_tail()
            else:
                pane.scroll_to_line(top)

        self.call_after_refresh(restore)

    # --------------------------------------------------------------- panels
    def _apply_panels(self) -> None:
        zoomed = self.grid.zoomed is not None
        feed = self._feed_wanted
        if feed is None:
            feed = self.size.width >= FEED_MIN_WIDTH
        self.feed.set_class(zoomed or not feed, "-hidden")
        self.console_view.set_class(zoomed or not self._console_wanted, "-hidden")

    def action_toggle_feed(self) -> None:
        self._feed_wanted = not self.feed_visible
        self._apply_panels()

    def action_toggle_console(self) -> None:
        self._console_wanted = not self._console_wanted
        self._apply_panels()

    @property
    def feed_visible(self) -> bool:
        return not self.feed.has_class("-hidden")

    @property
    def console_visible(self) -> bool:
        return not self.console_view.has_class("-hidden")

    def action_toggle_markdown(self) -> None:
        """Finished fields of the focused pane as Markdown, or back to literal text."""
        pane = self.focused_pane() or self.grid.zoomed
        if pane is not None:
            pane.set_markdown(not pane.markdown)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    # ------------------------------------------------------------------ quit
    def action_quit(self) -> None:
        """Stop the source, wait (bounded) for its exit code, then exit with it.

        The waiting runs in a worker so the screen stays live meanwhile; pressing quit
        again exits at once.
        """
        if self._quitting:
            self._exit_with_code()
            return
        self._quitting = True
        self.status_bar.title_text = "quitting… (q again to leave now)"
        self.status_bar.show(self.state)
        self.run_worker(self._quit(), name="quit", group="quit")

    async def _quit(self) -> None:
        try:
            await asyncio.wait_for(self.source.stop(), STOP_TIMEOUT)
            await asyncio.wait_for(self._source_applied.wait(), STOP_TIMEOUT)
        except TimeoutError:
            pass
        except Exception as exc:  # a failing stop() must not keep the user in the app
            self.state.apply(SourceNotice("error", f"stopping the source failed: {exc!r}"))
        self._exit_with_code()

    def _exit_with_code(self) -> None:
        """Leave with the run's exit code as the result (None when it is not known: the
        launcher then asks the child process itself instead of claiming success)."""
        code = self.state.exit_code
        self.exit(code, return_code=code if code is not None else 0)
