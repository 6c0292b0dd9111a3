"""The bridge's small JSON API: agents, events, streaming history, publish, health."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .server import Bridge

MAX_EVENTS_PAGE = 10_000
PUBLISH_TIMEOUT = 30.0
MAX_BODY = 1024 * 1024  # a request body (the app's client_max_size)
MAX_DEPTH = 64  # arrays/objects nested deeper than this in client JSON are refused


class PublishUnavailable(RuntimeError):
    """The publish handler cannot reach anything that publishes (answered with 503)."""


class PublishRefused(Exception):
    """The publish handler refuses a request it cannot pass on (answered with `status`)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def loads_client(text: str | bytes) -> Any:
    """Parse JSON sent by a client; ValueError with a one-line reason when it cannot be.

    Strict JSON only (no NaN/Infinity), and nothing nested deeper than MAX_DEPTH: a
    deeply nested document would otherwise raise RecursionError here or further on
    (validation, re-encoding for the child, every client's decoder).
    """
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"nested too deeply (at most {MAX_DEPTH} levels)") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # NaN, Infinity
        raise ValueError(f"not JSON: {exc}") from None
    if _too_deep(value):
        raise ValueError(f"nested too deeply (at most {MAX_DEPTH} levels)")
    return value


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _bridge(request: web.Request) -> Bridge:
    return request.app["bridge"]


async def agents(request: web.Request) -> web.Response:
    state = _bridge(request).state
    return web.json_response({"agents": [a.summary() for a in state.agents.values()]})


async def snapshot(request: web.Request) -> web.Response:
    return web.json_response(_bridge(request).state.snapshot(), dumps=_dumps)


async def events(request: web.Request) -> web.Response:
    bridge = _bridge(request)
    try:
        since = int(request.query.get("since", "0"))
        limit = int(request.query.get("limit", "1000"))
    except ValueError:
        return json_error(400, "since and limit must be integers")
    if since < 0 or not 1 <= limit <= MAX_EVENTS_PAGE:
        return json_error(400, f"need since >= 0 and 1 <= limit <= {MAX_EVENTS_PAGE}")
    history = bridge.history
    frames = history.since(since, limit + 1)
    truncated = frames is None
    if frames is None:
        # The history lost some events after `since`: give what it still has.
        frames = history.since(max(0, (history.first_seq or 1) - 1), limit + 1) or []
    more = len(frames) > limit
    frames = frames[:limit]
    head = {
        "bridge_id": bridge.id,
        "session_id": bridge.state.session_id,
        "since": since,
        "first_seq": history.first_seq,
        "last_seq": history.last_seq,
        "truncated": truncated,
        "more": more,
    }
    # Frames are already JSON: splice them in instead of decoding and re-encoding.
    body = json.dumps(head)[:-1] + ',"events":[' + ",".join(f.text for f in frames) + "]}"
    return web.Response(text=body, content_type="application/json")


async def streaming_history(request: web.Request) -> web.Response:
    name = request.match_info["agent"]
    agent = _bridge(request).state.agents.get(name)
    if agent is None:
        return json_error(404, f"no agent named {name[:80]!r}")
    data = agent.summary()
    data["history"] = [run.as_json() for run in agent.runs]
    return web.json_response(data)


async def health(request: web.Request) -> web.Response:
    return web.json_response(_bridge(request).health())


async def publish(request: web.Request) -> web.Response:
    bridge = _bridge(request)
    if request.content_type != "application/json":
        return json_error(415, "send the artifact as JSON (Content-Type: application/json)")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, f"body too large: at most {MAX_BODY} bytes")
    try:
        body = loads_client(raw)
    except ValueError as exc:
        return json_error(400, f"body: {exc}")
    if not isinstance(body, dict):
        return json_error(400, "body must be a JSON object {artifact_type, content}")
    artifact_type = body.get("artifact_type")
    content = body.get("content")
    if not isinstance(artifact_type, str) or not artifact_type.strip():
        return json_error(400, "artifact_type must be a non-empty string")
    if not isinstance(content, dict):
        return json_error(400, "content must be a JSON object with the artifact's fields")
    handler = bridge.publish_handler
    if handler is None:
        return json_error(
            501, "publishing is not available: this bridge was started without a publish handler"
        )
    try:
        async with asyncio.timeout(bridge.publish_timeout):
            result = await handler(artifact_type, content)
    except PublishUnavailable as exc:
        return json_error(503, str(exc))
    except PublishRefused as exc:
        return json_error(exc.status, str(exc))
    except TimeoutError:
        return json_error(504, f"publish timed out after {bridge.publish_timeout:g}s")
    except ValueError as exc:  # engine.PublishError is a ValueError
        return json_error(422, str(exc).splitlines()[0] if str(exc) else "invalid artifact")
    except Exception as exc:  # a bug in the handler must not kill the bridge
        return json_error(500, f"publish failed: {type(exc).__name__}: {exc}")
    return web.json_response({"ok": True, "artifact": to_json(result)}, dumps=_dumps)


async def index(request: web.Request) -> web.Response:
    """GET / when the dashboard page is not served (runtime_mode "api")."""
    return web.json_response(
        {
            "name": "flock-tui bridge",
            "dashboard": False,
            "endpoints": [
                "GET /ws?since=SEQ",
                "GET /api/agents",
                "GET /api/events?since=SEQ&limit=N",
                "GET /api/streaming-history/{agent}",
                "GET /api/snapshot",
                "POST /api/control/publish {artifact_type, content}",
                "GET /health",
            ],
        }
    )


def to_json(value: Any) -> Any:
    """An Artifact (pydantic model, dataclass or dict) as plain JSON data."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, dict | list | str | int | float | bool) or value is None:
        return value
    if hasattr(value, "__dict__"):
        return {k: v for k, v in vars(value).items() if not k.startswith("_")}
    return str(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)
