"""The flock-tui command line: arguments, errors and exit codes (run as a real subprocess)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flock_tui.cli import UsageError, parse_args

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120


def flock_tui(*args: str, cwd: Path | None = None, env: dict | None = None):
    """Run `python -m flock_tui ARGS` with stdout a pipe (so: plain mode)."""
    return subprocess.run(
        [sys.executable, "-m", "flock_tui", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def test_help_documents_commands_options_keys_and_environment():
    result = flock_tui("--help")
    assert result.returncode == 0 and result.stderr == ""
    text = result.stdout
    for needle in [
        "SCRIPT [ARGS...]",
        "replay RUN.jsonl",
        "--speed",
        "attach ws://HOST:PORT/ws",
        "--token",
        "--record",
        "--exit-on-finish",
        "--web",
        "--host",
        "--port",
        "--version",
        "FLOCK_OFFLINE_TPS",
        "DEFAULT_MODEL",
        "FLOCK_TUI_EVENT_FD",
        "not a terminal",
        "zoom",
        "feed",
        "console",
        "q / ctrl+c",
        "SIGINT",
        "exit status",
    ]:
        assert needle in text, needle


def test_version():
    from flock_tui import __version__

    result = flock_tui("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"flock-tui {__version__}"


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("flock-tui")
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("flock-tui ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no SCRIPT given"),
        (["missing.py"], "script not found: missing.py"),
        (["notes.txt"], "not a Python script (expected a .py file): notes.txt"),
        (["adir"], "not a Python script (a directory): adir"),
        (["--bogus", "ok.py"], "unrecognized arguments: --bogus"),
        (["--web", "--port", "99999", "ok.py"], "port out of range: 99999"),
        (["--speed", "2", "ok.py"], "--speed only applies to replay"),
        (["--port", "9000", "ok.py"], "--host and --port only apply with --web"),
        (["--token", "t", "ok.py"], "--token only applies with --web or attach"),
        (["replay"], "replay needs exactly one argument: RUN.jsonl"),
        (["replay", "missing.jsonl"], "cannot read record file missing.jsonl: No such file"),
        (["replay", "adir"], "cannot read record file adir: it is a directory"),
        (["replay", "notes.txt"], "not a flock-tui record: notes.txt (first event: not JSON"),
        (["replay", "empty.jsonl"], "not a flock-tui record (empty): empty.jsonl"),
        (["replay", "ok.jsonl", "--speed", "-1"], "speed must be >= 0"),
        (["attach", "http://example.org/ws"], "not a WebSocket URL"),
        (["--record", "nodir/run.jsonl", "ok.py"], "cannot write record file nodir/run.jsonl"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_code_2(tmp_path, args, message):
    (tmp_path / "ok.py").write_text("print('ran')\n")
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "ok.jsonl").write_text(
        '{"v":1,"seq":1,"event_type":"run_started","timestamp":"2026-01-01T00:00:00.000Z",'
        '"session_id":"s","data":{}}\n'
    )
    result = flock_tui(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("flock-tui: error: ")
    assert message in lines[0]


def test_missing_script_creates_no_record_file(tmp_path):
    result = flock_tui("--record", "run.jsonl", "missing.py", cwd=tmp_path)
    assert result.returncode == 2
    assert not (tmp_path / "run.jsonl").exists()


def test_arguments_after_script_go_to_the_script_and_its_exit_code_is_ours(tmp_path):
    script = tmp_path / "echo_args.py"
    script.write_text("import sys\nprint(repr(sys.argv[1:]))\nraise SystemExit(5)\n")
    args = ["-h", "--record", "x.jsonl", "--", "replay", "two words", "--web"]
    result = flock_tui(str(script), *args, cwd=tmp_path)
    assert result.returncode == 5
    assert f"[stdout] {args!r}" in result.stdout.splitlines()
    assert "[end] exited with code 5; 0 artifacts" in result.stdout
    assert not (tmp_path / "x.jsonl").exists()


def test_a_script_named_replay_runs_as_dot_slash_replay_or_after_double_dash(tmp_path):
    script = tmp_path / "replay"
    script.write_text("#!/usr/bin/env python3\nprint('I am the replay script')\n")
    for args in (["./replay"], ["--", "replay"]):
        result = flock_tui(*args, "arg", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "[stdout] I am the replay script" in result.stdout


def test_script_runs_in_the_same_cwd_with_the_same_interpreter(tmp_path):
    script = tmp_path / "where.py"
    script.write_text("import os, sys\nprint(os.getcwd())\nprint(sys.executable)\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    result = flock_tui("../where.py", cwd=sub)
    assert result.returncode == 0
    assert f"[stdout] {sub}" in result.stdout
    assert f"[stdout] {sys.executable}" in result.stdout


def test_killed_child_exit_code_is_128_plus_signal(tmp_path):
    script = tmp_path / "kill.py"
    script.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    result = flock_tui(str(script))
    assert result.returncode == 137
    assert "[end] killed by SIGKILL (exit code 137)" in result.stdout


def test_sigint_to_plain_flock_tui_stops_the_child_group(tmp_path):
    script = tmp_path / "wait.py"
    script.write_text(
        "import signal, sys, time\n"
        "def bye(*_):\n"
        "    print('child got SIGINT', flush=True)\n"
        "    sys.exit(9)\n"
        "signal.signal(signal.SIGINT, bye)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "flock_tui", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # blocks until the child is up (or EOF on failure)
        assert first.strip() == "[stdout] ready"
        proc.send_signal(2)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 9, err
    assert "[stdout] child got SIGINT" in out
    assert "[end] stopped by user (exited with code 9);" in out


def test_parse_args_options_before_and_after_commands():
    inv = parse_args(["--exit-on-finish", "replay", "run.jsonl", "--speed", "4"])
    assert (inv.mode, inv.target, inv.speed, inv.exit_on_finish) == (
        "replay",
        "run.jsonl",
        4.0,
        True,
    )
    inv = parse_args(["attach", "ws://h:1/ws", "--token", "T"])
    assert (inv.mode, inv.target, inv.token) == ("attach", "ws://h:1/ws", "T")
    inv = parse_args(["--web", "--port=9000", "--record", "r.jsonl", "s.py", "--port", "1"])
    assert (inv.mode, inv.target, inv.args, inv.port, inv.web) == (
        "script",
        "s.py",
        ["--port", "1"],
        9000,
        True,
    )
    assert str(inv.record) == "r.jsonl"
    with pytest.raises(UsageError, match="exactly one"):
        parse_args(["replay", "a.jsonl", "b.jsonl"])


def test_help_names_every_key_the_app_binds():
    from textual.binding import Binding

    from flock_tui.app import FlockApp

    help_text = flock_tui("--help").stdout
    keys_section = help_text.split("keys (in the TUI):")[1].split("environment:")[0]
    # The key column: what stands before the description on each line, as whole names.
    documented: set[str] = set()
    for line in keys_section.splitlines():
        column = re.split(r"\s{2,}", line.strip())[0]
        documented.update(part for part in re.split(r"\s+or\s+|\s*/\s*|,\s*", column) if part)
    names = {"question_mark": "?"}
    for binding in FlockApp.BINDINGS:
        assert isinstance(binding, Binding)
        for key in binding.key.split(","):
            assert names.get(key, key) in documented, key
