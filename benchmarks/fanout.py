"""Bridge fan-out: K WebSocket clients on the full stream, and one client that never reads.

A server process (``python -m benchmarks.fanout serve``) runs the real
`flock_tui.bridge.Bridge` on an ephemeral loopback port and, after a ``go`` line on its
stdin, publishes token events (each with ``t_created``) at RATE events/s, evenly spaced.
The harness process connects K aiohttp clients (``?since=0``) and measures delivery
latency (receive time - t_created) in two phases:

1. K readers only;
2. K readers plus one raw-socket client that completes the WebSocket handshake with a
   small receive buffer and then never reads.

The server's RSS is sampled from /proc all along: the never-reading client's cost is the
server's peak RSS in phase 2 minus its peak in phase 1. /health gives merges, drops and
closed slow clients at the end.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from benchmarks import metrics
from benchmarks.harness import ROOT, child_env

# -- server side ------------------------------------------------------------------------


async def _serve(rate: float, seconds: float, agents: int) -> None:
    from engine.events import EventFactory, StreamingOutput
    from flock_tui.bridge import Bridge

    bridge = Bridge(host="127.0.0.1", port=0, dashboard=False)
    await bridge.start()
    loop = asyncio.get_running_loop()
    go = asyncio.Event()
    stop = asyncio.Event()

    def read_commands() -> None:
        for line in sys.stdin:
            word = line.strip()
            if word == "go":
                loop.call_soon_threadsafe(go.set)
            elif word == "stop":
                loop.call_soon_threadsafe(stop.set)
                return
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=read_commands, daemon=True).start()
    print(json.dumps({"port": bridge.port, "pid": os.getpid()}), flush=True)
    await go.wait()
    factory = EventFactory()
    total = int(rate * seconds)
    interval = 1.0 / rate
    t0 = time.monotonic()
    sent = 0
    sequences = [0] * agents
    while sent < total and not stop.is_set():
        due = min(total, int((time.monotonic() - t0) / interval) + 1)
        while sent < due:
            index = sent % agents
            bridge.publish(
                factory.make(
                    StreamingOutput(
                        agent_name=f"agent-{index:02d}",
                        run_id=f"run-{index:02d}",
                        field="draft",
                        content=" word",
                        sequence=sequences[index],
                        t_created=time.time(),  # type: ignore[call-arg]
                    )
                )
            )
            sequences[index] += 1
            sent += 1
        delay = t0 + sent * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    print(json.dumps({"published": sent, "health": bridge.health()}, default=str), flush=True)
    await stop.wait()
    await bridge.close("benchmark done")


# -- client side ------------------------------------------------------------------------


class _Reader:
    def __init__(self) -> None:
        self.latencies: list[tuple[float, float]] = []  # (receive time, latency)
        self.merged_frames = 0
        self.messages = 0
        self.closed: str | None = None


async def _read(url: str, reader: _Reader, ready: asyncio.Event, count: list[int]) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, max_msg_size=0, autoping=True) as ws:
            count[0] += 1
            if count[0] >= count[1]:
                ready.set()
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                now = time.time()
                reader.messages += 1
                frame = json.loads(msg.data)
                if frame.get("event_type") != "streaming_output":
                    continue
                created = frame.get("data", {}).get("t_created")
                if isinstance(created, float):
                    reader.latencies.append((now, now - created))
                if frame.get("merged"):
                    reader.merged_frames += 1
            reader.closed = f"{ws.close_code}"


def _stuck_client(port: int) -> socket.socket:
    """Handshake on /ws with a tiny receive buffer, then never read again."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws?since=0 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    sock.sendall(request.encode())
    head = b""
    sock.settimeout(5)
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)  # byte by byte: read the 101 response and nothing more
        if not chunk:
            raise ConnectionError("bridge closed the never-reading client's handshake")
        head += chunk
    if b" 101 " not in head.split(b"\r\n", 1)[0]:
        raise ConnectionError(f"handshake refused: {head.splitlines()[0]!r}")
    return sock


async def _sample_rss(pid: int, out: list[tuple[float, int]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            out.append((time.time(), metrics.rss_bytes(pid)))
        except FileNotFoundError:
            return
        await asyncio.sleep(0.1)


async def _run_clients(
    port: int,
    server_pid: int,
    proc: subprocess.Popen[str],
    clients: int,
    phase1: float,
    phase2: float,
) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{port}/ws?since=0"
    readers = [_Reader() for _ in range(clients)]
    ready = asyncio.Event()
    count = [0, clients]
    tasks = [asyncio.create_task(_read(url, r, ready, count)) for r in readers]
    await asyncio.wait_for(ready.wait(), 20)
    rss: list[tuple[float, int]] = []
    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(_sample_rss(server_pid, rss, stop_sampling))
    cpu0 = metrics.cpu_seconds()
    server_cpu0 = metrics.cpu_seconds(server_pid)
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    t_go = time.time()
    await asyncio.sleep(phase1)
    t_stuck = time.time()
    stuck = await asyncio.to_thread(_stuck_client, port)
    await asyncio.sleep(phase2)
    t_end = time.time()
    cpu1 = metrics.cpu_seconds()
    server_cpu1 = metrics.cpu_seconds(server_pid)
    stop_sampling.set()
    await sampler
    health = await _health(port)
    proc.stdin.write("stop\n")
    proc.stdin.flush()
    done, pending = await asyncio.wait(tasks, timeout=15)
    for task in pending:
        task.cancel()
    stuck.close()

    warm = min(1.0, phase1 / 4)

    def phase_latencies(start: float, end: float) -> list[float]:
        return [lat for r in readers for (t, lat) in r.latencies if start <= t <= end]

    def peak(start: float, end: float) -> int:
        values = [b for (t, b) in rss if start <= t <= end]
        return max(values) if values else 0

    p1 = phase_latencies(t_go + warm, t_stuck)
    p2 = phase_latencies(t_stuck, t_end)
    rss1 = peak(t_go, t_stuck)
    rss2 = peak(t_stuck, t_end)
    return {
        "clients": clients,
        "phase1_s": phase1,
        "phase2_s": phase2,
        "readers_latency": metrics.latency_summary(p1),
        "readers_latency_with_stuck": metrics.latency_summary(p2),
        "server_rss_phase1_mb": round(rss1 / metrics.MIB, 1),
        "server_rss_phase2_mb": round(rss2 / metrics.MIB, 1),
        "stuck_client_cost_mib": round((rss2 - rss1) / metrics.MIB, 2),
        "merged_frames_at_readers": sum(r.merged_frames for r in readers),
        "messages_per_reader": [r.messages for r in readers],
        "server_cpu_share": round((server_cpu1 - server_cpu0) / (t_end - t_go), 3),
        "clients_process_cpu_share": round((cpu1 - cpu0) / (t_end - t_go), 3),
        "stuck_client_queue": _stuck_queue(health),
        "health": health,
    }


def _stuck_queue(health: dict[str, Any]) -> dict[str, Any] | None:
    """The never-reading client's queue as /health reports it (the one that sent least)."""
    clients = health.get("per_client") or []
    if not clients:
        return None
    stuck = min(clients, key=lambda c: c.get("sent", 0))
    return {k: stuck.get(k) for k in ("sent", "merges", "drops", "queued")}


async def _health(port: int) -> dict[str, Any]:
    import aiohttp

    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(
                f"http://127.0.0.1:{port}/health", timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                return await response.json()
    except Exception as exc:  # a figure, not a test: report what went wrong
        return {"error": repr(exc)}


def measure_fanout(
    clients: int = 5,
    rate: float = 1600.0,
    phase1: float = 15.0,
    phase2: float = 30.0,
    agents: int = 16,
) -> dict[str, Any]:
    seconds = phase1 + phase2 + 5.0
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fanout", "serve", str(rate), str(seconds), str(agents)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
        env=child_env(),
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        if not first:
            raise RuntimeError(
                f"bridge server did not start: {proc.stderr.read() if proc.stderr else ''}"
            )
        info = json.loads(first)
        result = asyncio.run(_run_clients(info["port"], info["pid"], proc, clients, phase1, phase2))
        result["rate"] = rate
        try:
            out, _ = proc.communicate(timeout=20)
            for line in out.splitlines():
                if line.startswith("{"):
                    result["server"] = json.loads(line)
        except subprocess.TimeoutExpired:
            result.setdefault("notes", []).append("bridge server did not exit in time")
        return result
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        rate, seconds, agents = float(argv[1]), float(argv[2]), int(argv[3])
        asyncio.run(_serve(rate, seconds, agents))
        return 0
    print(json.dumps(measure_fanout(phase1=2.0, phase2=2.0), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
