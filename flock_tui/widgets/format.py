"""Small formatting helpers shared by the widgets."""

from __future__ import annotations

from datetime import datetime

BADGE_STYLES: dict[str, str] = {
    "idle": "bold black on grey50",
    "queued": "bold black on yellow",
    "running": "bold black on green",
    "done": "bold white on blue",
    "error": "bold white on red",
}

BADGE_DOTS: dict[str, str] = {
    "idle": "○",
    "queued": "◔",
    "running": "●",
    "done": "✓",
    "error": "✗",
}


def fmt_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def fmt_tokens(tokens: int) -> str:
    if tokens < 10_000:
        return str(tokens)
    if tokens < 1_000_000:
        return f"{tokens / 1000:.1f}k"
    return f"{tokens / 1_000_000:.1f}M"


def fmt_time(moment: datetime) -> str:
    """Event time as HH:MM:SS (UTC, as stamped), never the local wall clock."""
    return moment.strftime("%H:%M:%S")
