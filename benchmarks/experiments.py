"""Proposed renderer changes, applied as monkeypatches for A/B runs ONLY.

Nothing here is used unless asked for (`python -m benchmarks render --patch NAME,...`):
these are measurements of changes proposed to the owners of flock_tui, so they can see
the effect before they make it in their own code. Each patch names the file and function
it stands in for.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
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
}


def apply(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in PATCHES]
    if unknown:
        raise ValueError(f"unknown patch(es): {', '.join(unknown)}; known: {', '.join(PATCHES)}")
    for name in names:
        PATCHES[name]()
    return names
