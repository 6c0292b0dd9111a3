"""Proposed renderer changes, applied as monkeypatches for A/B runs ONLY.

Nothing here is used unless asked for (`python -m benchmarks render --patch NAME,...`):
these are measurements of changes proposed to the owners of flock_tui, so they can see
the effect before they make it in their own code. Each patch names the file and function
it stands in for.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any


def statusbar_no_layout() -> None:
    """flock_tui/widgets/panels.py StatusBar.show: `self.update(text, layout=False)`.

    Static.update defaults to layout=True, so every batch re-lays-out the whole screen
    (full compositor reflow, every pane's scrollbar refreshed); the bar is 1 row high,
    its content cannot change the layout.
    """
    from textual.widgets import Static

    from flock_tui.widgets.panels import StatusBar

    original = Static.update

    def update(self: Static, content: Any = "", *, layout: bool = True) -> None:
        if isinstance(self, StatusBar):
            layout = False
        original(self, content, layout=layout)

    Static.update = update  # type: ignore[method-assign]


def no_pane_scrollbar() -> None:
    """flock_tui/widgets/pane.py AgentPane CSS: `scrollbar-size-vertical: 0`.

    Every new line changes the pane's virtual size, which refreshes its scrollbar: the
    scrollbar's rows cost as much to render as the text rows, for all 16 panes in every
    frame. (Owner's version: hide the bar while following the tail, show the position in
    the subtitle when scrolled up, override `allow_vertical_scroll` so the wheel and keys
    still scroll.)
    """
    from flock_tui.widgets.pane import AgentPane

    css = AgentPane.DEFAULT_CSS
    if "scrollbar-size-vertical: 1;" in css:
        AgentPane.DEFAULT_CSS = css.replace(
            "scrollbar-size-vertical: 1;", "scrollbar-size-vertical: 0;"
        )
    else:
        AgentPane.DEFAULT_CSS = css + "\nAgentPane { scrollbar-size-vertical: 0; }\n"


_frozen = False


def gc_freeze_once() -> None:
    """flock_tui/app.py: `gc.freeze()` once the UI is up (first batch applied).

    Textual's and the app's start-up objects then leave the collector's generations, so
    the periodic full (gen 2) collections, which otherwise stall the event loop for
    70-200 ms every ~1.2 s under load, only scan what was allocated since.
    """
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


PATCHES: dict[str, Callable[[], None]] = {
    "statusbar-no-layout": statusbar_no_layout,
    "no-pane-scrollbar": no_pane_scrollbar,
    "gc-freeze": lambda: None,  # applied by the benchmark app on its first batch
    "count-renders": lambda: count_renders(),  # diagnostics: they change nothing
    "count-screen-updates": lambda: count_screen_updates(),
}


def apply(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in PATCHES]
    if unknown:
        raise ValueError(f"unknown patch(es): {', '.join(unknown)}; known: {', '.join(PATCHES)}")
    for name in names:
        PATCHES[name]()
    return names


def _dump_at_exit(variable: str, default: str, figures: dict[str, Any]) -> None:
    """At exit, write `figures` as JSON to the file named by $variable (else `default`)."""

    def dump() -> None:
        path = os.environ.get(variable, default)
        Path(path).write_text(json.dumps(figures, indent=1))

    atexit.register(dump)


def count_renders() -> None:
    """Diagnostic, changes nothing: at exit, write how many lines each widget class
    rendered (Widget.render_lines calls and rows) to $FLOCK_BENCH_RENDER_COUNTS.

    Note: Textual renders (mostly from its line cache) the whole region of every widget
    that overlaps a frame's dirty area, so rows here exceed the rows that changed."""
    from textual.widget import Widget

    calls: Counter[str] = Counter()
    rows: Counter[str] = Counter()
    original = Widget.render_lines

    def render_lines(self: Widget, crop: Any) -> Any:
        name = type(self).__name__
        calls[name] += 1
        rows[name] += crop.height
        return original(self, crop)

    Widget.render_lines = render_lines  # type: ignore[method-assign]
    _dump_at_exit("FLOCK_BENCH_RENDER_COUNTS", "render_counts.json", {"calls": calls, "rows": rows})


def count_screen_updates() -> None:
    """Diagnostic, changes nothing: at exit, write which screen update flags were set per
    frame and which widgets were dirty to $FLOCK_BENCH_SCREEN_COUNTS."""
    from textual.screen import Screen

    flags: Counter[str] = Counter()
    dirty: Counter[str] = Counter()
    original = Screen._on_timer_update

    def on_timer_update(self: Screen) -> None:
        key = ",".join(
            name
            for name in ("_layout_required", "_scroll_required", "_repaint_required")
            if getattr(self, name)
        )
        flags[key or "none"] += 1
        for widget in self._dirty_widgets:
            dirty[type(widget).__name__] += 1
        original(self)

    Screen._on_timer_update = on_timer_update  # type: ignore[method-assign]
    _dump_at_exit(
        "FLOCK_BENCH_SCREEN_COUNTS", "screen_counts.json", {"flags": flags, "dirty": dirty}
    )
