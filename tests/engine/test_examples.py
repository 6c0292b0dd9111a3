"""Every example finishes offline with exit code 0; import isolation holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FLOCK_OFFLINE_TPS="0", PYTHONPATH=str(ROOT), **extra)
    env.pop("DEFAULT_MODEL", None)
    env.pop("FLOCK_TUI_EVENT_FD", None)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("script", "last_line"),
    [
        ("03_blog_review.py", "pages: 1"),
        ("09_debate.py", "verdict: "),
        ("16_news_desk.py", "analyses: 8; digests: 1"),
    ],
)
def test_example_finishes_offline(script: str, last_line: str, tmp_path: Path) -> None:
    result = _run([str(ROOT / "examples" / script)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert last_line in result.stdout.strip().splitlines()[-1]
    assert "agent_error" not in result.stdout and "✗" not in result.stdout
    assert "Traceback" not in result.stderr
    if script == "03_blog_review.py":
        page = (tmp_path / "blog.html").read_text()
        assert page.startswith("<!doctype html>") and "<h1>" in page
        scores = result.stdout.strip().splitlines()[-1].split(";")[0]
        assert int(scores.split(",")[-1]) >= 9


ISOLATION = (
    "import sys, engine\n"
    "assert 'textual' not in sys.modules and 'aiohttp' not in sys.modules\n"
    "{extra}"
    "bad = [m for m in ('textual', 'aiohttp', 'litellm') if m in sys.modules]\n"
    "assert not bad, bad\n"
)

RUN_AGENT = (
    "import asyncio\n"
    "from pydantic import BaseModel\n"
    "from engine import Flock, flock_type\n"
    "@flock_type\n"
    "class Q(BaseModel):\n"
    "    question: str\n"
    "@flock_type\n"
    "class A(BaseModel):\n"
    "    answer: str\n"
    "async def main():\n"
    "    flock = Flock()\n"
    "    flock.agent('answerer').consumes(Q).publishes(A)\n"
    "    await flock.publish(Q(question='why is the sky blue'))\n"
    "    await flock.run_until_idle()\n"
    "    assert len(await flock.store.get_by_type(A)) == 1\n"
    "asyncio.run(main())\n"
)


@pytest.mark.parametrize("extra", ["", RUN_AGENT], ids=["import", "after-a-run"])
def test_engine_imports_neither_textual_nor_aiohttp(extra: str, tmp_path: Path) -> None:
    result = _run(["-c", ISOLATION.format(extra=extra)], tmp_path)
    assert result.returncode == 0, result.stderr
