"""Run a program inside a real pseudo-terminal of a fixed size and throw its output away.

The child gets the pty as stdin, stdout, stderr and controlling terminal (new session),
the window size is set with TIOCSWINSZ before it starts, TERM=xterm-256color. The parent
reads everything the child draws (so it never blocks on a full pty), counts the bytes,
keeps a short tail for error messages and can detect the first painted frame.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALT_SCREEN = b"\x1b[?1049h"
_ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


@dataclass
class PtyResult:
    returncode: int | None
    elapsed_s: float
    bytes_read: int
    first_frame_s: float | None
    timed_out: bool
    tail: bytes

    def tail_text(self, limit: int = 2000) -> str:
        text = _ESCAPES.sub(b"", self.tail).decode("utf-8", "replace")
        return text[-limit:]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for measured programs: repo root importable, a known terminal."""
    env = dict(os.environ)
    env["TERM"] = "xterm-256color"
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    env.pop("TEXTUAL", None)  # no devtools
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    if extra:
        env.update(extra)
    return env


class FirstFrameDetector:
    """Finds the first painted frame: the alternate-screen switch, then drawn text."""

    def __init__(self, min_visible: int = 20) -> None:
        self.min_visible = min_visible
        self._seen_alt = False
        self._buffer = b""

    def feed(self, data: bytes) -> bool:
        if not self._seen_alt:
            self._buffer += data
            index = self._buffer.find(ALT_SCREEN)
            if index < 0:
                self._buffer = self._buffer[-len(ALT_SCREEN) :]
                return False
            self._seen_alt = True
            data = self._buffer[index + len(ALT_SCREEN) :]
            self._buffer = b""
        self._buffer += data
        visible = _ESCAPES.sub(b"", self._buffer)
        return sum(1 for byte in visible if byte > 0x20) >= self.min_visible


def _set_ctty() -> None:  # runs in the child after setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def run_in_pty(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    cols: int = 200,
    rows: int = 50,
    timeout: float = 120.0,
    detect_first_frame: bool = False,
    on_first_frame: Callable[[int, subprocess.Popen[bytes]], None] | None = None,
    tail_bytes: int = 65536,
) -> PtyResult:
    """Run ARGV in a pty of COLS x ROWS until it exits (or TIMEOUT: then kill its group)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    detector = FirstFrameDetector() if detect_first_frame or on_first_frame else None
    started = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env if env is not None else child_env(),
        cwd=str(cwd),
        start_new_session=True,
        preexec_fn=_set_ctty,
        close_fds=True,
    )
    os.close(slave)
    total = 0
    tail = b""
    first_frame: float | None = None
    timed_out = False
    deadline = started + timeout
    try:
        while True:
            now = time.monotonic()
            if now > deadline:
                _kill_group(proc, signal.SIGKILL if timed_out else signal.SIGTERM)
                timed_out = True
                deadline = now + 5.0
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 1 << 16)
            except OSError as exc:
                if exc.errno == errno.EIO:  # every slave end closed
                    break
                raise
            if not data:
                break
            total += len(data)
            tail = (tail + data)[-tail_bytes:]
            if detector is not None and first_frame is None and detector.feed(data):
                first_frame = time.monotonic() - started
                if on_first_frame is not None:
                    on_first_frame(master, proc)
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _kill_group(proc, signal.SIGKILL)
            proc.wait(timeout=5)
        os.close(master)
    return PtyResult(
        returncode=proc.returncode,
        elapsed_s=time.monotonic() - started,
        bytes_read=total,
        first_frame_s=first_frame,
        timed_out=timed_out,
        tail=tail,
    )


def _kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
