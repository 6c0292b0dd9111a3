"""TeeSource, Recorder and BridgedSource around a real child process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.events import Envelope, EventFactory, RunStarted, decode
from flock_tui.record import Recorder, RecordError
from flock_tui.sources.base import SourceEnded, SourceItem, SourceNotice
from flock_tui.sources.bridged import BridgedSource
from flock_tui.sources.child import ChildProcessSource
from flock_tui.sources.tee import TeeSource

TIMEOUT = 60


async def drain(source) -> list[SourceItem]:
    queue: asyncio.Queue[SourceItem] = asyncio.Queue()
    await asyncio.wait_for(source.run(queue), TIMEOUT)
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def child(tmp_path: Path, lines: int = 3) -> ChildProcessSource:
    script = tmp_path / "child.py"
    script.write_text(
        "import os\n"
        "from engine.events import EventFactory, RunStarted, encode_line\n"
        "fd = int(os.environ['FLOCK_TUI_EVENT_FD'])\n"
        "os.write(fd, encode_line(EventFactory().make(RunStarted(script='child.py'))))\n"
        f"for i in range({lines}):\n"
        "    print('line', i, flush=True)\n"
    )
    return ChildProcessSource(script, [])


class ListSource:
    """A scripted inner source (items given up front), to drive TeeSource's edge cases."""

    description = "list"

    def __init__(self, items: list[SourceItem], error: Exception | None = None) -> None:
        self.items = items
        self.error = error
        self.stopped = 0

    async def run(self, queue: asyncio.Queue[SourceItem]) -> None:
        for item in self.items:
            await queue.put(item)
            await asyncio.sleep(0)
        if self.error is not None:
            raise self.error

    async def stop(self) -> None:
        self.stopped += 1


async def test_tee_passes_everything_through_and_shows_callbacks_every_envelope(tmp_path):
    seen: list[Envelope] = []
    items = await drain(TeeSource(child(tmp_path), seen.append))
    envelopes = [i for i in items if isinstance(i, Envelope)]
    assert seen == envelopes
    assert items[-1] == SourceEnded(0, "exited")


async def test_a_failing_callback_is_reported_once_and_the_run_goes_on(tmp_path):
    seen: list[Envelope] = []

    def broken(envelope: Envelope) -> None:
        raise OSError("disk full")

    items = await drain(TeeSource(child(tmp_path, lines=20), broken, seen.append))
    notices = [i for i in items if isinstance(i, SourceNotice)]
    assert len(notices) == 1
    assert notices[0].level == "warning" and "broken failed: OSError: disk full" in notices[0].text
    assert len(seen) == len([i for i in items if isinstance(i, Envelope)]) >= 2
    assert items[-1] == SourceEnded(0, "exited")


async def test_a_source_that_fails_or_forgets_its_end_still_ends():
    env = EventFactory().make(RunStarted())
    items = await drain(TeeSource(ListSource([env], RuntimeError("pipe broke"))))
    assert items[0] == env
    assert items[1] == SourceNotice("error", "source failed: RuntimeError: pipe broke")
    assert items[2] == SourceEnded(None, "source failed: RuntimeError")
    items = await drain(TeeSource(ListSource([env])))
    assert items == [env, SourceEnded(None, "source ended without a result")]


async def test_tee_stop_reaches_the_inner_source():
    inner = ListSource([SourceEnded(0, "done")])
    tee = TeeSource(inner)
    await tee.stop()
    assert inner.stopped == 1


async def test_recorder_writes_flushed_json_lines(tmp_path):
    path = tmp_path / "run.jsonl"
    with Recorder(path) as recorder:
        items = await drain(TeeSource(child(tmp_path), recorder))
        # Flushed as written: readable before the recorder is closed.
        recorded = [decode(line) for line in path.read_text().splitlines()]
    assert recorded == [i for i in items if isinstance(i, Envelope)]
    assert recorder.written == len(recorded)
    recorder.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        recorder(recorded[0])


def test_recorder_cannot_open_is_a_record_error(tmp_path):
    with pytest.raises(RecordError, match="cannot write record file"):
        Recorder(tmp_path / "missing-dir" / "run.jsonl")


class LoopbackBridge:
    """A bridge double that records what BridgedSource does with it."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.published: list[Envelope] = []
        self.closed: list[str] = []

    async def start(self) -> str:
        if self.fail:
            raise OSError("address already in use")
        return "http://127.0.0.1:8344/"

    def publish(self, envelope: Envelope) -> None:
        self.published.append(envelope)

    async def close(self, reason: str) -> None:
        self.closed.append(reason)


async def test_bridged_source_announces_the_url_and_publishes_every_envelope(tmp_path):
    bridge = LoopbackBridge()
    recorded: list[Envelope] = []
    source = BridgedSource(child(tmp_path), lambda: bridge, recorded.append)
    items = await drain(source)
    assert items[0] == SourceNotice("info", "dashboard: http://127.0.0.1:8344/")
    envelopes = [i for i in items if isinstance(i, Envelope)]
    assert bridge.published == envelopes == recorded
    assert bridge.closed == []  # the dashboard stays readable after the run
    await source.stop()
    await source.aclose()
    assert bridge.closed == ["stopped"]


async def test_bridged_source_runs_on_when_the_bridge_cannot_start(tmp_path):
    items = await drain(BridgedSource(child(tmp_path), lambda: LoopbackBridge(fail=True)))
    assert items[0] == SourceNotice(
        "error", "dashboard not started: OSError: address already in use"
    )
    assert items[-1] == SourceEnded(0, "exited")


async def test_cancelling_the_tee_stops_the_child_before_it_returns(tmp_path):
    script = tmp_path / "forever.py"
    script.write_text("import time\nprint('up', flush=True)\ntime.sleep(120)\n")
    inner = ChildProcessSource(script, [], grace_seconds=1)
    queue: asyncio.Queue[SourceItem] = asyncio.Queue()
    task = asyncio.create_task(TeeSource(inner).run(queue))
    first = await asyncio.wait_for(queue.get(), TIMEOUT)
    assert isinstance(first, Envelope) and first.data["text"] == "up"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, TIMEOUT)
    assert inner.process is not None and inner.process.returncode is not None
