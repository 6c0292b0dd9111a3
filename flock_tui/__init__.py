"""flock-tui: every concurrent agent gets its own live pane."""

__version__ = "0.1.0"
