"""The `?` screen: the keys and what the marks on the screen mean."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from flock_tui.keys import KEYS_HELP, LEGEND


class HelpScreen(ModalScreen[None]):
    """Keys and legend over the run, which goes on streaming underneath."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 90;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $accent;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "Close"),
    ]

    def compose(self) -> ComposeResult:
        body = VerticalScroll()
        body.border_title = "flock-tui help (esc closes)"
        with body:
            yield Static(KEYS_HELP + "\n" + LEGEND, markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
