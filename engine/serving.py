"""Serving a Flock's events over HTTP/WebSocket: `await flock.serve(dashboard=True)`.

Like Flock's own serve(), `serve()` blocks while it serves: until the task is cancelled
(Ctrl+C) by default. Artifacts published meanwhile (by the script or through
POST /api/control/publish) wake their agents as usual, and every event is streamed.
Three keywords make a script that ends by itself:

    await flock.serve(dashboard=True, on_ready=kick_off, until_idle=True, linger=30)

- `on_ready(url)`: called (and awaited if it returns an awaitable) once the server is up
  and the event sink is attached: publish the first artifacts there, so a browser sees
  the whole run;
- `until_idle=True`: then wait until no agent runs (flock.run_until_idle());
- `linger=N`: then keep serving N more seconds (alone: serve N seconds) and return.

`serving(flock, ...)` is the same as an async context manager yielding the Bridge.

The server is flock_tui's Bridge, imported here lazily: `import engine` loads no aiohttp.
Under `flock-tui --web` (env FLOCK_TUI_BRIDGE_URL set) the parent already serves this
run's events, so no second server is started: serve() only waits as asked.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from engine.events import Envelope

if TYPE_CHECKING:
    from engine.orchestrator import Flock
    from flock_tui.bridge import Bridge

BRIDGE_URL_ENV = "FLOCK_TUI_BRIDGE_URL"
OnReady = Callable[[str], Awaitable[Any] | Any]


class BridgeSink:
    """An EventSink forwarding every envelope to a Bridge (non-blocking)."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    def send(self, envelope: Envelope) -> None:
        self.bridge.publish(envelope)

    async def aclose(self) -> None:
        return None


def _say(text: str) -> None:
    print(text, flush=True)


@asynccontextmanager
async def serving(
    flock: Flock,
    *,
    dashboard: bool = True,
    host: str = "127.0.0.1",
    port: int = 8344,
    token: str | None = None,
    quiet: bool = False,
    **bridge_kw: Any,
) -> AsyncIterator[Bridge | None]:
    """Serve `flock`'s events while the block runs; yields the Bridge (None under --web)."""
    parent_url = os.environ.get(BRIDGE_URL_ENV)
    if parent_url:
        if not quiet:
            _say(f"dashboard served by flock-tui: {parent_url}")
        yield None
        return

    from flock_tui.bridge import Bridge  # lazy: the only place the engine loads aiohttp

    bridge = Bridge(
        host, port, token, publish_handler=flock.publish_json, dashboard=dashboard, **bridge_kw
    )
    sink = BridgeSink(bridge)
    flock.add_sink(sink)  # replays run_started and agent_registered first
    try:
        url = await bridge.start()
    except BaseException:
        flock.remove_sink(sink)
        raise
    if not quiet:
        what = "dashboard" if dashboard else "API"
        _say(f"flock {what}: {url}")
        if bridge.token_generated:
            print(
                f"serving on {host}: token required (generated): {bridge.token}",
                file=sys.stderr,
                flush=True,
            )
    reason = "server stopped"
    try:
        yield bridge
        reason = "run ended"
    finally:
        flock.remove_sink(sink)
        await bridge.close(reason)


async def serve(
    flock: Flock,
    *,
    dashboard: bool = False,
    host: str = "127.0.0.1",
    port: int = 8344,
    token: str | None = None,
    on_ready: OnReady | None = None,
    until_idle: bool = False,
    linger: float | None = None,
    quiet: bool = False,
    **bridge_kw: Any,
) -> None:
    """Serve until cancelled; or, with until_idle/linger, until the run is done (see above)."""
    if linger is not None and linger < 0:
        raise ValueError(f"linger must be >= 0 seconds, got {linger}")
    async with serving(
        flock, dashboard=dashboard, host=host, port=port, token=token, quiet=quiet, **bridge_kw
    ) as bridge:
        if on_ready is not None:
            url = bridge.url if bridge is not None else os.environ.get(BRIDGE_URL_ENV)
            result = on_ready(url or "")
            if inspect.isawaitable(result):
                await result
        if until_idle:
            await flock.run_until_idle()
        if linger is not None:
            if bridge is not None:  # under --web the parent keeps the page up
                await asyncio.sleep(linger)
        elif not until_idle:
            await asyncio.Event().wait()  # serve until cancelled
