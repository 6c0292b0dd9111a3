"""One bounded outgoing queue per WebSocket client, with merging and drop accounting.

`Bridge.publish` offers every frame to every client's queue synchronously; a sender
task per client (see server.py) takes items off it and awaits `send_str`, so this queue
is the only buffer that grows when a client reads slowly. Under pressure:

- soft limit: an `llm_token` streaming_output frame is merged into the queue's LAST item
  when that item is a token frame of the same (agent_name, run_id, field) (contents
  concatenated, the later seq kept, `"merged": n` added to the envelope, n = how many
  events it folds, and `"merged_tokens": k`, k = how many of them carried text: empty
  end-of-field markers are not tokens). Only the last item: a merge never moves text past another event,
  so whatever seq a client last received, every event up to that seq has reached it
  (resuming with `since=` that seq loses nothing and repeats nothing). Tokens of
  streams that interleave tightly therefore merge little, and a client that cannot
  keep up with them reaches the close limit sooner (it reconnects and resumes);
- hard limit: other non-lifecycle frames (console output, status/log lines) are dropped
  and counted; lifecycle frames are never dropped;
- close limit (or over the hard limit for longer than `max_lag` seconds): the client
  is too far behind and is closed with a reason (it can reconnect and resume).

Merges and drops are counted here and reported to the client in `stats` messages.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from engine.events import LIFECYCLE_EVENTS

from .history import Frame


@dataclass(frozen=True, slots=True)
class QueueLimits:
    soft_items: int = 256
    soft_bytes: int = 256 * 1024
    hard_items: int = 4_000
    hard_bytes: int = 4 * 1024 * 1024
    close_items: int = 8_000
    close_bytes: int = 8 * 1024 * 1024
    max_lag: float = 30.0


@dataclass(slots=True)
class _Pending:
    seq: int | None
    frame: Frame | None = None
    text: str | None = None
    parts: list[str] | None = None  # the contents folded into a merged token frame
    merged: int = 1
    tokens: int = 0  # of a merged frame: the folded events that carried text
    final: bool = False
    size: int = 0

    def render(self) -> str:
        if self.text is not None:
            return self.text
        assert self.frame is not None
        if self.parts is None:
            return self.frame.text
        raw = json.loads(self.frame.text)
        raw["merged"] = self.merged
        raw["merged_tokens"] = self.tokens
        raw["data"]["content"] = "".join(self.parts)
        raw["data"]["is_final"] = self.final
        return json.dumps(raw, ensure_ascii=False, separators=(",", ":"))


@dataclass
class ClientStats:
    sent: int = 0
    merges: int = 0
    drops: int = 0


class ClientQueue:
    """The outgoing items of one client: first a replay from history, then live frames.

    Live items sit in a deque; a token frame merges only into the
    last one (see the module docstring), so the items leave in seq order and each one
    a client receives completes everything before it.
    """

    def __init__(self, limits: QueueLimits | None = None, *, stats_interval: float = 1.0) -> None:
        self.limits = limits or QueueLimits()
        self.stats = ClientStats()
        self.stats_interval = stats_interval
        self.sent_seq = 0
        self.skip_until = 0
        self.closed_reason: str | None = None
        self.too_far_behind = False
        self._replay: deque[_Pending] = deque()
        self._pending: deque[_Pending] = deque()
        self._bytes = 0
        self._behind_since: float | None = None
        self._stats_dirty = False
        self._stats_sent_at = 0.0
        self._finishing = False
        self._wake = asyncio.Event()

    # -- sizes -------------------------------------------------------------------------
    @property
    def pending_items(self) -> int:
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    @property
    def replay_items(self) -> int:
        return len(self._replay)

    def _over(self, items: int, size: int) -> bool:
        return len(self._pending) >= items or self._bytes >= size

    # -- producer side (synchronous, never blocks) -------------------------------------
    def replay(self, frames: Sequence[Frame], preface: Sequence[str] = ()) -> None:
        """Replace everything queued with `preface` messages then `frames` (a resync)."""
        self._replay.clear()
        self._pending.clear()
        self._bytes = 0
        self._behind_since = None
        for text in preface:
            self._replay.append(_Pending(seq=None, text=text))
        for frame in frames:
            self._replay.append(_Pending(seq=frame.seq, frame=frame))
        self._wake.set()

    def message(self, text: str) -> None:
        """Queue a control message (stats, end, error) after what is already queued."""
        if self.closed_reason is None:
            self._push(_Pending(seq=None, text=text, size=len(text)))

    def offer(self, frame: Frame) -> None:
        if self.closed_reason is not None or self.too_far_behind:
            return
        limits = self.limits
        key = frame.key
        if key is not None and self._over(limits.soft_items, limits.soft_bytes):
            last = self._last_item()
            if last is not None and last.frame is not None and last.frame.key == key:
                self._merge(last, frame)
                self._check_behind()
                return
        if key is None and frame.event_type not in LIFECYCLE_EVENTS:
            if self._over(limits.hard_items, limits.hard_bytes):
                self.stats.drops += 1
                self._stats_dirty = True
                self._check_behind()
                return
        item = _Pending(seq=frame.seq, frame=frame, size=frame.size, final=frame.is_final)
        self._push(item)
        self._check_behind()

    def _last_item(self) -> _Pending | None:
        return self._pending[-1] if self._pending else None

    def _merge(self, item: _Pending, frame: Frame) -> None:
        """Fold `frame` into the queue's last item (same stream), in place."""
        assert item.frame is not None
        if item.parts is None:
            item.parts = [item.frame.content]
            item.tokens = 1 if item.frame.content else 0
        item.parts.append(frame.content)
        item.tokens += 1 if frame.content else 0
        item.seq = frame.seq  # the later seq, and the later frame's envelope fields
        item.frame = frame
        item.merged += 1
        item.final = item.final or frame.is_final
        item.size += len(frame.content)
        self._bytes += len(frame.content)
        self.stats.merges += 1
        self._stats_dirty = True
        self._wake.set()

    def _push(self, item: _Pending) -> None:
        if not item.size:
            item.size = len(item.text or "")
        self._pending.append(item)
        self._bytes += item.size
        self._wake.set()

    def _check_behind(self) -> None:
        limits = self.limits
        if self._over(limits.close_items, limits.close_bytes):
            self.too_far_behind = True
        elif self._over(limits.hard_items, limits.hard_bytes):
            now = time.monotonic()
            if self._behind_since is None:
                self._behind_since = now
            elif now - self._behind_since > limits.max_lag:
                self.too_far_behind = True
        else:
            self._behind_since = None
        if self.too_far_behind:
            self._wake.set()

    def finish(self) -> None:
        """Send what is queued, then stop (the sender's next() returns None)."""
        self._finishing = True
        self._wake.set()

    def close(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
        self._wake.set()

    # -- consumer side (the sender task) -----------------------------------------------
    def stats_message(self) -> str:
        self._stats_dirty = False
        self._stats_sent_at = time.monotonic()
        return json.dumps(
            {
                "type": "stats",
                "merges": self.stats.merges,
                "drops": self.stats.drops,
                "queued": len(self._pending),
            }
        )

    def pop_nowait(self) -> str | None:
        """The next text to send, or None when nothing is queued."""
        if self._stats_dirty and time.monotonic() - self._stats_sent_at >= self.stats_interval:
            return self.stats_message()
        while self._replay:
            item = self._replay.popleft()
            if item.seq is not None:
                if item.seq <= self.skip_until:
                    continue
                self.sent_seq = max(self.sent_seq, item.seq)
            return item.render()
        while self._pending:
            item = self._pending.popleft()
            self._bytes -= item.size
            if not self._over(self.limits.hard_items, self.limits.hard_bytes):
                self._behind_since = None
            if item.seq is not None:
                if item.seq <= self.skip_until:
                    continue
                self.sent_seq = max(self.sent_seq, item.seq)
                self.stats.sent += 1
            return item.render()
        return None

    async def next(self) -> str | None:
        """Wait for the next text to send; None once the client is closed or too slow."""
        while True:
            if self.closed_reason is not None or self.too_far_behind:
                return None
            text = self.pop_nowait()
            if text is not None:
                return text
            if self._stats_dirty:
                # Nothing else to send: report merges/drops now instead of waiting.
                return self.stats_message()
            if self._finishing:
                return None
            self._wake.clear()
            await self._wake.wait()

    def drain_nowait(self) -> list[str]:
        """Everything still queued (for a graceful close), in order."""
        out: list[str] = []
        while (text := self.pop_nowait()) is not None:
            out.append(text)
        return out


__all__ = ["ClientQueue", "ClientStats", "QueueLimits"]
