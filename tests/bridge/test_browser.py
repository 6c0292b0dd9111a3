"""The dashboard in a real browser: Debian's chromium driven by playwright (never
`playwright install`). Skipped only when chromium is absent and CI is not set."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from engine.events import (
    AgentError,
    AgentRegistered,
    EventFactory,
    MessagePublished,
)
from flock_tui.bridge import Bridge

from .conftest import CHROMIUM, WAIT, run_events, token

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip("chromium is not installed (required when CI is set)", allow_module_level=True)


STREAM_LENGTHS = """() => Object.fromEntries(Array.from(document.querySelectorAll('.card')).map(
    c => [c.dataset.agent, c.querySelector('.fields').textContent.length]))"""


async def test_dashboard_shows_agents_streaming_at_once_then_artifacts(page, tmp_path: Path):
    env = dict(os.environ, FLOCK_OFFLINE_TPS="30", PYTHONPATH=str(ROOT))
    for key in (
        "FLOCK_TUI_EVENT_FD",
        "FLOCK_TUI_CONTROL_FD",
        "FLOCK_TUI_BRIDGE_URL",
        "DEFAULT_MODEL",
    ):
        env.pop(key, None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "05_dashboard.py"),
        "--port",
        "0",
        "--linger",
        "2",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        url = None
        async with asyncio.timeout(WAIT):
            while url is None:
                line = (await proc.stdout.readline()).decode()
                assert line, "the example ended before printing its URL"
                if line.startswith("flock dashboard: "):
                    url = line.split(": ", 1)[1].strip()
        drain = asyncio.create_task(proc.stdout.read())
        await page.goto(url)
        # Sample the streamed text of every card: at least two agents must grow
        # between the same two samples, i.e. stream at the same time.
        previous: dict[str, int] = {}
        concurrent: set[str] = set()
        async with asyncio.timeout(WAIT):
            while len(concurrent) < 2:
                lengths = await page.evaluate(STREAM_LENGTHS)
                grew = {a for a, n in lengths.items() if n > previous.get(a, 0) > 0}
                if len(grew) >= 2:
                    concurrent = grew
                previous = lengths
                await asyncio.sleep(0.15)
        assert concurrent <= {"historian", "engineer", "skeptic", "editor"}
        report = await page.wait_for_selector('.artifact[data-type="Report"]', timeout=WAIT * 1000)
        assert "verdict" in await report.text_content()
        assert await page.locator('.artifact[data-type="Finding"]').count() == 3
        badges = await page.eval_on_selector_all(".badge", "els => els.map(e => e.textContent)")
        assert badges == ["done"] * 4
        # The example ends after lingering: the page learns the run ended.
        await page.wait_for_selector('#conn[data-state="ended"]', timeout=WAIT * 1000)
        assert await asyncio.wait_for(proc.wait(), WAIT) == 0
        await drain
        assert page.problems == []
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()


SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'


async def test_llm_text_never_runs_as_html(page):
    factory = EventFactory()
    bridge = Bridge(port=0)
    url = await bridge.start()
    try:
        bridge.publish(factory.make(AgentRegistered(name=f"evil{IMG}", description=SCRIPT)))
        bridge.publish(token(factory, f"evil{IMG}", SCRIPT, field="text"))
        bridge.publish(token(factory, f"evil{IMG}", IMG, field=f"f{IMG}"))
        bridge.publish(
            factory.make(
                MessagePublished(
                    artifact_id="x",
                    artifact_type=f"T{IMG}",
                    produced_by=SCRIPT,
                    payload={"html": IMG},
                )
            )
        )
        bridge.publish(
            factory.make(AgentError(agent_name=f"evil{IMG}", error_type=SCRIPT, error_message=IMG))
        )
        await page.goto(url)
        await page.wait_for_selector(".error-text:not(:empty)", timeout=WAIT * 1000)
        text = await page.text_content("#agents")
        assert SCRIPT in text and IMG in text  # shown literally
        assert await page.evaluate("typeof window.__pwned") == "undefined"
        assert await page.locator("img").count() == 0
        assert await page.locator("main script").count() == 0
        feed = await page.text_content("#artifacts")
        assert IMG in feed and SCRIPT in feed
        assert page.problems == []
    finally:
        await bridge.close("test over")


async def test_page_reconnects_and_resumes_without_gap_or_duplicate(page):
    factory = EventFactory()
    bridge = Bridge(port=0)
    url = await bridge.start()
    try:
        for envelope in run_events(factory, agents=("writer",), tokens=3):
            bridge.publish(envelope)
        await page.goto(url)
        await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT * 1000)
        expected = "writer0 writer1 writer2 "
        for round_ in range(3):
            for client in list(bridge.clients):
                client.stop(1012, "restarting")  # the server drops the page's socket
            for i in range(5):
                word = f"r{round_}.{i} "
                expected += word
                bridge.publish(token(factory, "writer", word, run_id="writer-1"))
            async with asyncio.timeout(WAIT):
                while len(bridge.clients) == 0:
                    await asyncio.sleep(0.05)
        await page.wait_for_function(
            "n => document.querySelector('.card[data-agent=writer] .stream').textContent.length >= n",
            arg=len(expected),
            timeout=WAIT * 1000,
        )
        await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT * 1000)
        assert await page.text_content(".card[data-agent=writer] .stream") == expected
        assert await page.evaluate("window.__flockDashboard.lastSeq()") == bridge.history.last_seq
    finally:
        await bridge.close("test over")


async def test_page_with_a_token_streams_and_publishes_through_the_form(page):
    factory = EventFactory()
    published: list[tuple[str, dict]] = []

    async def handler(artifact_type: str, content: dict) -> dict:
        if artifact_type != "Idea":
            raise ValueError(f"unknown artifact type {artifact_type!r}")
        published.append((artifact_type, content))
        bridge.publish(
            factory.make(
                MessagePublished(
                    artifact_id="p1", artifact_type="Idea", produced_by="external", payload=content
                )
            )
        )
        return {"id": "p1"}

    bridge = Bridge(port=0, token="tok-123", publish_handler=handler)
    url = await bridge.start()
    try:
        assert url.endswith("?token=tok-123")
        bridge.publish(factory.make(AgentRegistered(name="writer", consumes=["Idea"])))
        await page.goto(url)
        await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT * 1000)
        await page.wait_for_selector(".card[data-agent=writer]", timeout=WAIT * 1000)
        assert await page.eval_on_selector_all("#types option", "os => os.map(o => o.value)") == [
            "Idea"
        ]
        await page.click("#publish summary")
        await page.fill("#publish-type", "Idea")
        await page.fill("#publish-content", '{"topic": "owls"}')
        await page.click("#publish-form button")
        await page.wait_for_selector('.artifact[data-type="Idea"]', timeout=WAIT * 1000)
        assert await page.text_content("#publish-result") == "published"
        assert published == [("Idea", {"topic": "owls"})]
        await page.fill("#publish-type", "Nope")
        await page.click("#publish-form button")
        await page.wait_for_function(
            "() => document.querySelector('#publish-result').textContent.startsWith('422')",
            timeout=WAIT * 1000,
        )
        assert "unknown artifact type 'Nope'" in await page.text_content("#publish-result")
        await page.fill("#publish-content", "{not json")
        await page.click("#publish-form button")
        await page.wait_for_function(
            "() => document.querySelector('#publish-result').textContent.includes('not JSON')",
            timeout=WAIT * 1000,
        )
        # Without the token the same page gets nothing.
        other = await page.context.new_page()
        await other.goto(url.split("?")[0])
        await other.wait_for_selector('#conn:not([data-state="connecting"])', timeout=WAIT * 1000)
        assert await other.locator(".card").count() == 0
        await other.close()
    finally:
        await bridge.close("test over")


async def test_page_keeps_a_long_stream_bounded(page):
    factory = EventFactory()
    bridge = Bridge(port=0)
    url = await bridge.start()
    try:
        await page.goto(url)
        await page.wait_for_selector('#conn[data-state="live"]', timeout=WAIT * 1000)
        chunk = "y" * 1023
        for i in range(400):  # 400 KiB of text in one stream
            bridge.publish(token(factory, "long", f"{chunk}{i % 10}"))
            if i % 50 == 0:
                await asyncio.sleep(0)
        last = token(factory, "long", "THE-END")
        bridge.publish(last)
        await page.wait_for_function(
            "() => (document.querySelector('.card[data-agent=long] .stream') || {}).textContent?.endsWith('THE-END')",
            timeout=WAIT * 1000,
        )
        length = await page.evaluate(
            "document.querySelector('.card[data-agent=long] .stream').textContent.length"
        )
        assert 64 * 1024 < length <= 256 * 1024 + 2048
        assert await page.text_content(".card[data-agent=long] .tokens") == "401 tok"
    finally:
        await bridge.close("test over")
