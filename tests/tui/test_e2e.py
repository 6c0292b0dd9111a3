"""flock-tui in a real terminal (tmux): parallel streaming on screen, quit, crash, restore.

Every wait has a deadline, and each test runs its own tmux server (-L socket) that is
killed in a finally, so a failure never leaves a terminal or a child behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.events import decode

TMUX = shutil.which("tmux")
ROOT = Path(__file__).resolve().parents[2]
FLOCK_TUI = str(Path(sys.executable).with_name("flock-tui"))
WIDTH, HEIGHT = 160, 48

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed"),
]

BADGE = re.compile(r"\b(IDLE|QUEUED|RUNNING|DONE|ERROR)\s+([A-Za-z0-9_]+)")
SCROLLBAR = str.maketrans("", "", "▁▂▃▄▅▆▇█▔▕▏▐▌")


class Terminal:
    """One tmux server with one 160x48 window running a wrapped command."""

    def __init__(self, tmp_path: Path) -> None:
        self.socket = f"flock-b2-{uuid.uuid4().hex[:10]}"
        self.dir = tmp_path
        self.rc_file = tmp_path / "rc"
        self.stty_file = tmp_path / "stty"

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        result = subprocess.run(
            [TMUX, "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        if result.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {result.stderr.strip()}")
        return result.stdout

    def start(self, command: list[str], env: dict[str, str] | None = None) -> None:
        """Run `command` in the terminal; afterwards record $? and the tty settings."""
        script = self.dir / "run.sh"
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        script.write_text(
            f"cd {shlex.quote(str(ROOT))}\n"
            # A detached session may start at 80x24 and be resized a moment later: start
            # the program only once the terminal has its final size (at most 5 s).
            # pytest-textual-snapshot sets COLUMNS=80 LINES=24 in the test process; they
            # would override the real terminal size.
            "unset COLUMNS LINES\n"
            "i=0\n"
            f'while [ "$(stty size)" != "{HEIGHT} {WIDTH}" ] && [ $i -lt 50 ]; do\n'
            "  sleep 0.1; i=$((i+1))\n"
            "done\n"
            f"env {assignments} {shlex.join(command)}\n"
            f"echo $? > {shlex.quote(str(self.rc_file))}\n"
            f"stty -a > {shlex.quote(str(self.stty_file))}\n"
            "sleep 600\n"
        )
        self.tmux(
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            str(WIDTH),
            "-y",
            str(HEIGHT),
            "-s",
            "t",
            f"sh {shlex.quote(str(script))}",
        )

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def history(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-S", "-500", "-t", "t")

    def flags(self) -> dict[str, str]:
        names = [
            "alternate_on",
            "mouse_any_flag",
            "mouse_all_flag",
            "mouse_button_flag",
            "mouse_sgr_flag",
            "mouse_standard_flag",
            "cursor_flag",
        ]
        out = self.tmux("display-message", "-p", "-t", "t", " ".join(f"#{{{n}}}" for n in names))
        return dict(zip(names, out.split(), strict=True))

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def wait_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.rc_file.exists() and self.rc_file.read_text().strip():
                # stty runs right after; give it its moment.
                for _ in range(50):
                    if self.stty_file.exists() and self.stty_file.read_text().strip():
                        break
                    time.sleep(0.1)
                return int(self.rc_file.read_text())
            time.sleep(0.2)
        raise AssertionError(f"flock-tui did not exit within {timeout} s:\n{self.screen()}")

    def wait_for(self, predicate, timeout: float, what: str) -> str:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}:\n{screen}")

    def assert_restored(self) -> None:
        """The terminal is back to normal: main screen, no mouse reporting, sane tty."""
        flags = self.flags()
        assert flags["alternate_on"] == "0", flags
        for name in (
            "mouse_any_flag",
            "mouse_all_flag",
            "mouse_button_flag",
            "mouse_sgr_flag",
            "mouse_standard_flag",
        ):
            assert flags[name] == "0", flags
        assert flags["cursor_flag"] == "1", flags
        stty = self.stty_file.read_text().split()
        for setting in ("icanon", "echo", "isig", "icrnl", "opost"):
            assert setting in stty and f"-{setting}" not in stty, setting

    def close(self) -> None:
        with_suppress = subprocess.run(
            [TMUX or "tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30
        )
        del with_suppress


@pytest.fixture
def terminal(tmp_path) -> Iterator[Terminal]:
    term = Terminal(tmp_path)
    try:
        yield term
    finally:
        term.close()


def panes(screen: str) -> dict[str, str]:
    """Agent name -> the text inside its pane's box (scrollbar glyphs removed)."""
    lines = screen.split("\n")
    found: dict[str, str] = {}
    for row, line in enumerate(lines):
        for match in re.finditer("╭", line):
            left = match.start()
            right = line.find("╮", left)
            if right < 0:
                continue
            badge = BADGE.search(line[left:right])
            if badge is None:
                continue
            inside = []
            for below in lines[row + 1 :]:
                if len(below) <= left or below[left] == "╰":
                    break
                inside.append(below[left + 1 : right].translate(SCROLLBAR).rstrip())
            found[badge.group(2)] = "\n".join(inside)
    return found


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def record_pid(record: Path) -> int:
    for line in record.read_text().splitlines():
        envelope = decode(line)
        if envelope.event_type == "run_started":
            return int(envelope.data["pid"])
    raise AssertionError("no run_started event in the record")


def test_news_desk_streams_in_several_panes_at_once_then_exits(terminal, tmp_path):
    record = tmp_path / "news.jsonl"
    terminal.start(
        [FLOCK_TUI, "--exit-on-finish", "--record", str(record), "examples/16_news_desk.py"],
        env={"FLOCK_OFFLINE_TPS": "30"},
    )
    previous: dict[str, str] = {}
    most_at_once = 0
    growing_moments = 0
    seen_agents: set[str] = set()
    captures: list[str] = []
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and not terminal.rc_file.exists():
        try:
            screen = terminal.screen()
        except RuntimeError:
            break  # the pane went away with the program
        current = panes(screen)
        captures.append(screen)
        seen_agents |= set(current)
        grew = [
            name
            for name, text in current.items()
            if text.strip() and name in previous and text != previous[name]
        ]
        most_at_once = max(most_at_once, len(grew))
        if len(grew) >= 2:
            growing_moments += 1
        previous = current
        time.sleep(0.3)
    code = terminal.wait_exit(60)
    last = captures[-1] if captures else "(no capture)"
    assert code == 0, f"exit code {code}; last screen:\n{last}"
    assert most_at_once >= 2, (
        f"at most {most_at_once} pane(s) grew at the same time in {len(captures)} captures;"
        f" last screen:\n{last}"
    )
    assert growing_moments >= 2
    assert {"markets_analyst", "editor"} <= seen_agents
    terminal.assert_restored()
    finished = decode(record.read_text().splitlines()[-1])
    assert finished.event_type == "run_finished" and finished.data["exit_code"] == 0


def test_blog_review_runs_to_the_end_in_a_real_terminal(terminal, tmp_path):
    record = tmp_path / "blog.jsonl"
    terminal.start(
        [FLOCK_TUI, "--exit-on-finish", "--record", str(record), "examples/03_blog_review.py"],
        env={"FLOCK_OFFLINE_TPS": "200"},
    )
    seen: set[str] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not terminal.rc_file.exists():
        with contextlib.suppress(RuntimeError):
            seen |= set(panes(terminal.screen()))
        time.sleep(0.2)
    assert terminal.wait_exit(60) == 0
    assert {"blog_writer", "seo_optimizer", "html_writer"} <= seen
    terminal.assert_restored()
    events = [decode(line) for line in record.read_text().splitlines()]
    writers = {
        e.data["run_id"]
        for e in events
        if e.event_type == "agent_activated" and e.data["agent_name"] == "blog_writer"
    }
    assert len(writers) >= 2  # the review loop sent the blog back at least once
    assert events[-1].event_type == "run_finished" and events[-1].data["exit_code"] == 0


@pytest.mark.parametrize("key", ["q", "C-c"])
def test_quitting_stops_the_child_and_exits_with_its_code(terminal, tmp_path, key):
    record = tmp_path / "quit.jsonl"
    terminal.start(
        [FLOCK_TUI, "--record", str(record), "examples/16_news_desk.py"],
        env={"FLOCK_OFFLINE_TPS": "20"},
    )
    terminal.wait_for(
        lambda s: any(text.strip() for text in panes(s).values()) and "RUNNING" in s,
        60,
        "an agent streaming",
    )
    pid = record_pid(record)
    assert alive(pid)
    terminal.keys(key)
    code = terminal.wait_exit(60)
    events = [decode(line) for line in record.read_text().splitlines()]
    finished = [e for e in events if e.event_type == "run_finished"]
    assert len(finished) == 1
    assert finished[0].data["reason"].startswith("stopped by user")
    assert code == finished[0].data["exit_code"] == 130  # the child died of its SIGINT
    assert not alive(pid)
    terminal.assert_restored()


def test_sigterm_to_flock_tui_stops_the_child_and_restores_the_terminal(terminal, tmp_path):
    record = tmp_path / "term.jsonl"
    terminal.start(
        [FLOCK_TUI, "--record", str(record), "examples/16_news_desk.py"],
        env={"FLOCK_OFFLINE_TPS": "20"},
    )
    terminal.wait_for(lambda s: "RUNNING" in s, 60, "the run to start")
    child_pid = record_pid(record)
    shell = int(terminal.tmux("display-message", "-p", "-t", "t", "#{pane_pid}"))
    children = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
    assert len(children) == 1
    flock_tui_pid = int(children[0])
    os.kill(flock_tui_pid, signal.SIGTERM)
    code = terminal.wait_exit(60)
    assert code == 128 + signal.SIGTERM
    assert not alive(child_pid)
    terminal.assert_restored()


CRASHING = """
import sys

import flock_tui.app


class CrashingApp(flock_tui.app.FlockApp):
    def events_applied(self, batch):
        if any(e.event_type == "streaming_output" for e in batch):
            raise RuntimeError("boom from the test")


flock_tui.app.FlockApp = CrashingApp

from flock_tui.cli import main

sys.exit(main(sys.argv[1:]))
"""


def test_a_crash_of_the_app_restores_the_terminal_and_stops_the_child(terminal, tmp_path):
    wrapper = tmp_path / "crashing_flock_tui.py"
    wrapper.write_text(CRASHING)
    record = tmp_path / "crash.jsonl"
    terminal.start(
        [sys.executable, str(wrapper), "--record", str(record), "examples/16_news_desk.py"],
        env={"FLOCK_OFFLINE_TPS": "20"},
    )
    code = terminal.wait_exit(90)
    assert code == 1
    terminal.assert_restored()
    errors = [line for line in terminal.history().splitlines() if "flock-tui: error:" in line]
    assert errors == [
        "flock-tui: error: the TUI crashed: RuntimeError: boom from the test;"
        " the script was stopped"
    ]
    pid = record_pid(record)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid)


def test_tmux_helpers_parse_panes():
    screen = (
        "╭─  RUNNING  alpha · offline ─╮╭─  DONE  beta · m ─╮╭─ blackboard ─╮\n"
        "│ hello      ▃│ world  │ feed │\n"
        "╰──────────────────────────────╯╰──────────────────╯╰──────────────╯\n"
    )
    assert set(panes(screen)) == {"alpha", "beta"}
    assert panes(screen)["alpha"].strip().startswith("hello")
    assert os.getpid() > 0 and alive(os.getpid())
