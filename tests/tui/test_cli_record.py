"""Recording is lossless: a replay of a live run's record ends on the same screen."""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path

import pytest
from textual.scroll_view import ScrollView

from flock_tui.app import FlockApp
from flock_tui.launch import Invocation, Launch
from flock_tui.record import Recorder
from flock_tui.sources.replay import ReplaySource

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 180
SIZE = (160, 48)


def screen_text(app: FlockApp) -> str:
    """The screen as plain text lines (what a terminal would show, without colours)."""
    svg = app.export_screenshot()
    # Rich's SVG puts every text run in <text>; rebuild the rows from their y coordinates.
    rows: dict[float, list[tuple[float, str]]] = {}
    for x, y, text in re.findall(r'<text[^>]*x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        rows.setdefault(float(y), []).append((float(x), text))
    lines = []
    for y in sorted(rows):
        lines.append(html.unescape("".join(t for _, t in sorted(rows[y]))).replace("\xa0", " "))
    return "\n".join(lines)


async def final_screen(app: FlockApp) -> str:
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.wait_for(app.source_finished.wait(), TIMEOUT)
        # Let layout and the last refresh settle, then put every scroll view at its tail
        # (where follow-tail leaves it: whether it got there within the last frame is
        # the app's timing, not the record's content).
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.2)
        for view in app.query(ScrollView):
            view.scroll_end(animate=False, immediate=True)
        await pilot.pause(0.2)
        return screen_text(app)


@pytest.mark.parametrize("speed", [0.0, 20.0])
async def test_replay_of_a_live_record_ends_on_the_same_screen(tmp_path, monkeypatch, speed):
    monkeypatch.chdir(ROOT)
    record = tmp_path / "news.jsonl"
    recorder = Recorder(record)
    inv = Invocation(mode="script", target="examples/16_news_desk.py", record=record)
    launch = Launch(inv, plain=False, recorder=recorder)
    live_app = FlockApp(launch.source, title="same title")
    try:
        live = await final_screen(live_app)
    finally:
        recorder.close()
        await launch.shutdown()
    assert live_app.return_code in (None, 0)
    replay_app = FlockApp(ReplaySource(record, speed=speed), title="same title")
    replayed = await final_screen(replay_app)
    assert "editor" in live and "markets_analyst" in live
    (tmp_path / "live.txt").write_text(live)
    (tmp_path / "replayed.txt").write_text(replayed)
    assert replayed == live
