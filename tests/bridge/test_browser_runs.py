"""The dashboard in a real browser, per run: concurrent runs of one agent, token counts,
how a run ended, resume inside merged frames, queued runs and tool steps."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from engine.events import (
    AgentActivated,
    AgentCompleted,
    AgentRegistered,
    EventFactory,
    MessagePublished,
    RunFinished,
    RunNotice,
    RunStarted,
    StreamingOutput,
)
from flock_tui.bridge import Bridge

from .conftest import CHROMIUM, WAIT, token

pytestmark = pytest.mark.e2e

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip("chromium is not installed (required when CI is set)", allow_module_level=True)


RUN_TEXTS = """() => Array.from(document.querySelectorAll('.card[data-agent=writer] .run')).map(
    r => [r.dataset.run, r.querySelector('.stream') ? r.querySelector('.stream').textContent : null])"""


def two_interleaved_runs(bridge: Bridge, factory: EventFactory) -> dict[str, str]:
    """Two runs of one agent streaming at the same time, token by token."""
    expected = {"run-a": "", "run-b": ""}
    for run_id in expected:
        bridge.publish(factory.make(AgentActivated(agent_name="writer", run_id=run_id)))
    for i in range(20):
        for run_id in expected:
            word = f"{run_id[-1]}{i} "
            expected[run_id] += word
            bridge.publish(token(factory, "writer", word, run_id=run_id))
    bridge.publish(factory.make(AgentCompleted(agent_name="writer", run_id="run-a")))
    return expected


async def wait_for_run_text(page, run_id: str, text: str) -> None:
    await page.wait_for_function(
        """([run, text]) => {
            const r = document.querySelector(`.card[data-agent=writer] .run[data-run="${run}"]`);
            return r !== null && r.querySelector('.stream')?.textContent === text;
        }""",
        arg=[run_id, text],
        timeout=WAIT * 1000,
    )


async def test_concurrent_runs_of_one_agent_keep_their_own_text(page):
    factory = EventFactory()
    bridge = Bridge(port=0)
    url = await bridge.start()
    try:
        await page.goto(url)
        await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT * 1000)
        expected = two_interleaved_runs(bridge, factory)
        await page.wait_for_selector(
            '.card[data-agent=writer] .run[data-run="run-a"][data-state="done"]',
            timeout=WAIT * 1000,
        )
        # run-a is done but run-b still streams: the card still says running
        badge = ".card[data-agent=writer] .badge"
        assert await page.get_attribute(badge, "data-state") == "running"
        # A later run of the same agent gets its own block and wipes nothing.
        bridge.publish(factory.make(AgentActivated(agent_name="writer", run_id="run-c")))
        bridge.publish(token(factory, "writer", "c-text", run_id="run-c"))
        await wait_for_run_text(page, "run-c", "c-text")
        assert await page.evaluate(RUN_TEXTS) == [
            ["run-c", "c-text"],  # newest first
            ["run-b", expected["run-b"]],
            ["run-a", expected["run-a"]],
        ]
        state = '.card[data-agent=writer] .run[data-run="run-a"]'
        assert await page.get_attribute(state, "data-state") == "done"
        # a notice from the engine shows in the console, literally
        bridge.publish(factory.make(RunNotice(level="warning", text="no agent consumes <b>X</b>")))
        await page.wait_for_function(
            "() => document.getElementById('console').textContent.includes('<b>X</b>')",
            timeout=WAIT * 1000,
        )
        assert "[warning] no agent consumes <b>X</b>" in await page.text_content("#console")
        # Only the last five runs stay on the card.
        for run_id in ("run-d", "run-e", "run-f", "run-g"):
            bridge.publish(token(factory, "writer", run_id, run_id=run_id))
        await wait_for_run_text(page, "run-g", "run-g")
        runs = [run for run, _ in await page.evaluate(RUN_TEXTS)]
        assert runs == ["run-g", "run-f", "run-e", "run-d", "run-c"]
        assert await page.text_content(".card[data-agent=writer] .tokens") == "45 tok"
        assert page.problems == []
    finally:
        await bridge.close("test over")


async def test_snapshot_keeps_concurrent_runs_apart(page):
    # A history this short no longer holds seq 1: the page starts from a reset snapshot.
    factory = EventFactory()
    bridge = Bridge(port=0, history_events=5)
    url = await bridge.start()
    try:
        expected = two_interleaved_runs(bridge, factory)
        await page.goto(url)
        await wait_for_run_text(page, "run-a", expected["run-a"])
        assert await page.evaluate(RUN_TEXTS) == [
            ["run-b", expected["run-b"]],
            ["run-a", expected["run-a"]],
        ]
        assert page.problems == []
    finally:
        await bridge.close("test over")


async def test_page_counts_tokens_as_the_tui(page, served):
    bridge, url, factory = served
    tokens = ".card[data-agent=writer] .tokens"
    await page.goto(url)
    await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT * 1000)
    bridge.publish(factory.make(AgentActivated(agent_name="writer", run_id="r1")))
    for text in ("Hello", " world"):
        bridge.publish(token(factory, "writer", text))
    bridge.publish(  # the end-of-field marker: no text, not a token
        factory.make(
            StreamingOutput(
                agent_name="writer", run_id="r1", field="text", content="", is_final=True
            )
        )
    )
    bridge.publish(token(factory, "writer", "Title", field="title"))
    await wait_for_run_text(page, "r1", "Hello world")
    await page.wait_for_function(
        "() => document.querySelector('.card[data-agent=writer] [data-field=title]')"
        "?.textContent === 'Title'",
        timeout=WAIT * 1000,
    )
    assert await page.text_content(tokens) == "3 tok"
    # The engine's own count replaces the counted one when the run completes (as the TUI)
    metrics = {"tokens": 9, "chunks": 4}
    bridge.publish(factory.make(AgentCompleted(agent_name="writer", run_id="r1", metrics=metrics)))
    await page.wait_for_function(
        f"() => document.querySelector('{tokens}').textContent === '9 tok'",
        timeout=WAIT * 1000,
    )
    assert bridge.state.agents["writer"].summary()["tokens"] == 9
    assert page.problems == []


async def test_page_without_the_token_says_so_and_stops_retrying(page):
    bridge = Bridge(port=0, token="tok-456")
    url = await bridge.start()
    try:
        for query, expected in (("", "token required"), ("?token=wrong", "token rejected")):
            await page.goto(url.split("?")[0] + query)
            await page.wait_for_selector('#conn[data-state="error"]', timeout=WAIT * 1000)
            text = await page.text_content("#conn")
            assert text == f"{expected}: open the URL printed by flock-tui"
            await asyncio.sleep(1.0)  # no retry loop: it stays put
            assert await page.text_content("#conn") == text
            assert await page.evaluate("window.__flockDashboard.refused()") == text
        assert len(bridge.clients) == 0
    finally:
        await bridge.close("test over")


RUN_ID = "2c0b4bbf9ce74de68c6c29a595d360d1"


async def test_page_shows_the_finished_run_lists_and_short_ids(page, served):
    bridge, url, factory = served
    await page.set_viewport_size({"width": 420, "height": 900})
    await page.goto(url)
    await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT * 1000)
    script = "examples/16_news_desk.py"
    bridge.publish(factory.make(RunStarted(script=script, runtime_mode="cli", model="offline")))
    bridge.publish(factory.make(AgentActivated(agent_name="writer", run_id=RUN_ID)))
    bridge.publish(token(factory, "writer", "text", run_id=RUN_ID))
    payload = {
        "headline": "H",
        "highlights": ["first <b>point</b>", "second point"],
        "meta": {"author": "Ada", "scores": {"a": 1}},
        "empty": [],
    }
    bridge.publish(
        factory.make(
            MessagePublished(
                artifact_id="d1", artifact_type="Digest", produced_by="writer", payload=payload
            )
        )
    )
    bridge.publish(factory.make(AgentCompleted(agent_name="writer", run_id=RUN_ID)))
    digest = await page.wait_for_selector('.artifact[data-type="Digest"]', timeout=WAIT * 1000)
    texts = await digest.eval_on_selector_all(".payload", "ps => ps.map(p => p.textContent)")
    assert texts == [
        "H",
        "• first <b>point</b>\n• second point",
        'author: Ada\nscores: {"a":1}',
        "(none)",
    ]
    assert await page.locator(".artifact b").count() == 0
    run_id = page.locator(".card[data-agent=writer] .run-id")
    assert await run_id.text_content() == f"run {RUN_ID[:8]}"
    assert await run_id.get_attribute("title") == RUN_ID
    # The script exits 0: the badge says the run finished, not "live" ...
    bridge.publish(factory.make(RunFinished(exit_code=0, reason="exited")))
    await page.wait_for_selector('#conn[data-state="finished"]', timeout=WAIT * 1000)
    assert await page.text_content("#conn") == "run finished (exit 0)"
    # ... and still after the TUI quits and closes the bridge ("stopped").
    await bridge.close("stopped")
    await page.wait_for_selector('#conn[data-state="ended"]', timeout=WAIT * 1000)
    assert await page.text_content("#conn") == "run finished (exit 0)"
    # At 420 px the title stays on one line, and so does the connection badge.
    heights = await page.evaluate(
        """() => ['h1', '#conn'].map(s => {
            const e = document.querySelector(s);
            return [e.getBoundingClientRect().height,
                    parseFloat(getComputedStyle(e).lineHeight) || 20];
        })"""
    )
    assert all(height < 1.6 * line for height, line in heights), heights
    assert page.problems == []


async def test_page_says_how_a_failed_run_ended(page, served):
    bridge, url, factory = served
    bridge.publish(factory.make(RunFinished(exit_code=1, reason="crashed")))
    await page.goto(url)
    await page.wait_for_selector('#conn[data-state="failed"]', timeout=WAIT * 1000)
    assert await page.text_content("#conn") == "run crashed (exit 1)"
    await bridge.close("run finished")
    await page.wait_for_selector('#conn[data-state="ended"]', timeout=WAIT * 1000)
    assert await page.get_attribute("#conn", "data-outcome") == "failed"
    assert page.problems == []


async def test_page_resumes_in_the_middle_of_merged_frames_without_gap_or_duplicate(page):
    """A page the bridge merged tokens for (a merged frame keeps its first token's seq
    and names the later ones) loses its socket: the resume replays the named seqs, and
    the page skips them: every stream's text once, in order."""
    from flock_tui.bridge.clients import QueueLimits

    factory = EventFactory()
    bridge = Bridge(port=0, limits=QueueLimits(soft_items=1, soft_bytes=1))
    url = await bridge.start()
    agents = [f"agent{n}" for n in range(8)]
    expected = {name: "" for name in agents}

    def interleaved(start: int, n: int) -> None:  # in one go: they merge per stream
        for i in range(start, start + n):
            name = agents[i % 8]
            expected[name] += f"{i} "
            bridge.publish(token(factory, name, f"{i} ", run_id=f"run-{name}"))

    try:
        await page.goto(url)
        await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT * 1000)
        interleaved(0, 200)
        middle = factory.make(AgentActivated(agent_name="other", run_id="o1"))
        bridge.publish(middle)
        interleaved(200, 200)
        await page.wait_for_function(
            "seq => window.__flockDashboard.lastSeq() === seq", arg=middle.seq, timeout=WAIT * 1000
        )
        assert await page.evaluate("window.__flockDashboard.absorbed()") == 200
        for client in list(bridge.clients):
            client.stop(1012, "restarting")
        interleaved(400, 80)
        last = factory.make(AgentCompleted(agent_name="other", run_id="o1"))
        bridge.publish(last)
        await page.wait_for_function(
            "seq => window.__flockDashboard.lastSeq() === seq", arg=last.seq, timeout=WAIT * 1000
        )
        await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT * 1000)
        texts = await page.evaluate(
            """() => Object.fromEntries(Array.from(document.querySelectorAll('.card'))
                .filter(c => c.dataset.agent.startsWith('agent'))
                .map(c => [c.dataset.agent, c.querySelector('.stream').textContent]))"""
        )
        assert texts == expected
        assert await page.evaluate("window.__flockDashboard.absorbed()") == 0
        tokens = await page.eval_on_selector_all(
            ".card[data-agent^=agent] .tokens", "els => els.map(e => e.textContent)"
        )
        assert tokens == ["60 tok"] * 8  # merged frames count every token they fold
        assert page.problems == []
    finally:
        await bridge.close("test over")


RUN_STATES = """() => JSON.stringify(Object.fromEntries(Array.from(
    document.querySelectorAll('.card[data-agent=writer] .run'))
    .map(r => [r.dataset.run, r.dataset.state]).sort()))"""
BADGE = "() => document.querySelector('.card[data-agent=writer] .badge')?.dataset.state"


async def test_a_scheduled_run_is_queued_until_its_first_text(page):
    """agent_activated comes when a run is scheduled (it may wait for a max_concurrency
    slot): the run and the card say queued, as the TUI, until its first text."""
    from flock_tui.state import RunState as TuiState

    factory = EventFactory()
    bridge = Bridge(port=0, history_events=3)  # a later page starts from a snapshot
    url = await bridge.start()
    tui = TuiState()

    def publish(envelope) -> None:
        bridge.publish(envelope)
        tui.apply(envelope)

    async def shows(runs: dict[str, str], badge: str, on=page) -> None:
        await on.wait_for_function(
            f"([runs, badge]) => ({RUN_STATES})() === runs && ({BADGE})() === badge",
            arg=[json.dumps(dict(sorted(runs.items())), separators=(",", ":")), badge],
            timeout=WAIT * 1000,
        )
        writer = tui.agents["writer"]  # the TUI says the same
        assert {r.run_id: r.status for r in writer.runs.values()} == runs
        assert writer.badge == badge

    try:
        await page.goto(url)
        await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT * 1000)
        publish(factory.make(AgentRegistered(name="writer")))
        for run_id in ("r1", "r2"):  # both scheduled, one slot
            publish(factory.make(AgentActivated(agent_name="writer", run_id=run_id)))
        await shows({"r1": "queued", "r2": "queued"}, "queued")
        assert await page.text_content(".run[data-run=r1] .run-state") == "queued"
        publish(token(factory, "writer", "first", run_id="r1"))  # r1 got the slot
        await shows({"r1": "running", "r2": "queued"}, "running")
        # A page that connects now starts from a snapshot: the same states.
        other = await page.context.new_page()
        await other.goto(url)
        await shows({"r1": "running", "r2": "queued"}, "running", on=other)
        publish(factory.make(AgentCompleted(agent_name="writer", run_id="r1")))
        await shows({"r1": "done", "r2": "queued"}, "queued")  # r2 still waits
        publish(token(factory, "writer", "second", run_id="r2"))
        await shows({"r1": "done", "r2": "running"}, "running")
        publish(factory.make(AgentCompleted(agent_name="writer", run_id="r2")))
        await shows({"r1": "done", "r2": "done"}, "done")
        await shows({"r1": "done", "r2": "done"}, "done", on=other)
        assert page.problems == []
    finally:
        await bridge.close("test over")


RUN_BLOCKS = """() => Array.from(document.querySelectorAll('.card[data-agent=agent] .run .field'))
    .map(f => [f.querySelector('.field-name').textContent, f.querySelector('pre').textContent])"""


async def test_a_field_streaming_again_after_tool_lines_starts_a_new_block(page, served):
    """A ReAct agent: thought, tool call and result, thought again. The page keeps event
    order as the TUI does: the second thought is a new block below the tool lines."""
    from flock_tui.runmodel import StatusLines
    from flock_tui.state import RunState as TuiState

    bridge, url, factory = served
    tui = TuiState()

    def publish(envelope) -> None:
        bridge.publish(envelope)
        tui.apply(envelope)

    def status(text: str):
        return factory.make(
            StreamingOutput(agent_name="agent", run_id="r1", output_type="status", content=text)
        )

    await page.goto(url)
    await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT * 1000)
    publish(factory.make(AgentActivated(agent_name="agent", run_id="r1")))
    for text in ("I should ", "look it up."):
        publish(token(factory, "agent", text, run_id="r1", field="thought"))
    publish(status("→ search(owls)"))
    publish(status("← 3 results\n"))
    for text in ("Owls are ", "nocturnal."):
        publish(token(factory, "agent", text, run_id="r1", field="thought"))
    publish(status("→ search(owl diet)"))
    publish(token(factory, "agent", "They eat mice.", run_id="r1", field="thought"))
    publish(token(factory, "agent", "Owls: nocturnal", run_id="r1", field="answer"))
    publish(token(factory, "agent", ", eat mice.", run_id="r1", field="answer"))
    expected = [
        ["thought", "I should look it up."],
        ["status", "→ search(owls)\n← 3 results\n"],
        ["thought", "Owls are nocturnal."],
        ["status", "→ search(owl diet)\n"],
        ["thought", "They eat mice."],
        ["answer", "Owls: nocturnal, eat mice."],
    ]
    await page.wait_for_function(
        f"n => ({RUN_BLOCKS})().length === n && ({RUN_BLOCKS})().at(-1)[1].endsWith('mice.')",
        arg=len(expected),
        timeout=WAIT * 1000,
    )
    assert await page.evaluate(RUN_BLOCKS) == expected
    # The TUI's parts of the run, in the same order with the same text.
    (run,) = tui.agents["agent"].runs.values()
    parts = [
        [p.kind, "".join(line + "\n" for line in p.lines)]
        if isinstance(p, StatusLines)
        else [p.name, p.text]
        for p in run.parts
    ]
    assert parts == expected
    assert await page.text_content(".card[data-agent=agent] .tokens") == "7 tok"
    assert page.problems == []
