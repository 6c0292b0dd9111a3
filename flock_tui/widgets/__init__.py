"""The widgets of the flock-tui screen."""

from flock_tui.widgets.grid import PaneGrid, plan_grid
from flock_tui.widgets.lineview import LineView
from flock_tui.widgets.pane import AgentPane
from flock_tui.widgets.panels import AgentStrip, ConsoleView, FeedView, StatusBar

__all__ = [
    "AgentPane",
    "AgentStrip",
    "ConsoleView",
    "FeedView",
    "LineView",
    "PaneGrid",
    "StatusBar",
    "plan_grid",
]
