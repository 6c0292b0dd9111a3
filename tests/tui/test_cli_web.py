"""`flock-tui --web`: the real bridge beside a real child, in plain mode (stdout a pipe)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60

SCRIPT = textwrap.dedent(
    """
    import asyncio, os, pathlib
    from pydantic import BaseModel
    from engine import Flock, flock_type

    @flock_type
    class Note(BaseModel):
        text: str

    async def main():
        flock = Flock()
        stop = pathlib.Path(os.environ["STOP_FILE"])
        for _ in range(1200):  # at most 60 s
            if stop.exists():
                break
            await asyncio.sleep(0.05)
        await flock.run_until_idle()
        notes = await flock.store.get_by_type(Note)
        print("notes:", [n.text for n in notes], flush=True)

    asyncio.run(main())
    """
)


def read_until(proc: subprocess.Popen[str], prefix: str, deadline: float) -> str:
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"flock-tui ended before printing {prefix!r}")
        if line.startswith(prefix):
            return line.rstrip("\n")
    raise AssertionError(f"no {prefix!r} line in time")


def http(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST" if body else "GET")
    if body is not None:
        request.add_header("Content-Type", "application/json")
        request.add_header("Origin", url.split("/api/")[0])
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_web_serves_the_run_and_publishes_into_the_child(tmp_path):
    script = tmp_path / "notes.py"
    script.write_text(SCRIPT)
    stop_file = tmp_path / "stop"
    proc = subprocess.Popen(
        [sys.executable, "-m", "flock_tui", "--web", "--port", "0", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**__import__("os").environ, "STOP_FILE": str(stop_file)},
    )
    deadline = time.monotonic() + TIMEOUT
    try:
        line = read_until(proc, "[info] dashboard: ", deadline)
        url = line.split(": ", 1)[1]
        assert url.startswith("http://127.0.0.1:")
        # The script's Flock attaches to the control channel; publishing works once it has.
        while True:
            status, answer = http(
                url + "api/control/publish", {"artifact_type": "Note", "content": {"text": "hi"}}
            )
            if status != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert status == 200, answer
        status, answer = http(
            url + "api/control/publish", {"artifact_type": "Note", "content": {"txt": 1}}
        )
        assert 400 <= status < 500, answer
        published = read_until(proc, "[published] Note by ", deadline)
        assert published.startswith("[published] Note by ")
        status, events = http(url + "api/events?since=0")
        assert status == 200
        assert "message_published" in json.dumps(events)
        stop_file.write_text("stop")
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "[stdout] notes: ['hi']" in out.splitlines()
    assert out.splitlines()[-1].startswith("[end] exited (exit code 0)")


def test_web_on_a_taken_port_fails_before_the_script_starts(tmp_path):
    marker = tmp_path / "started"
    script = tmp_path / "script.py"
    script.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n")
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "flock_tui", "--web", "--port", str(port), str(script)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=TIMEOUT,
        )
    finally:
        holder.close()
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"flock-tui: error: cannot serve the dashboard on 127.0.0.1:{port}: address already in use"
    ]
    assert proc.stdout == ""
    assert not marker.exists()  # the script never ran
