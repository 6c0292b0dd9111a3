"""One bounded outgoing queue per WebSocket client, with merging and drop accounting.

`Bridge.publish` offers every frame to every client's queue synchronously; a sender
task per client (see server.py) takes items off it and awaits `send_str`, so this queue
is the only buffer that grows when a client reads slowly. Under pressure:

- soft limit: an `llm_token` streaming_output frame of stream S = (agent_name, run_id,
  field) is merged into the newest queued token item of S, wherever it sits in the
  queue, as long as nothing queued after that item concerns the same agent and run (a
  status line, a token of another field, a lifecycle event of that run, an agent-wide
  event of that agent, or an event for every agent such as run_finished): text never
  moves past an event of its own run, so each run's events stay in order. Streams that
  interleave (eight agents at once) each merge into their own item, so the queue holds
  about one item per stream instead of one per token. The merged frame keeps the
  EARLIER item's envelope and seq (the seqs a client receives stay strictly increasing)
  with the contents concatenated and, at the envelope level, `"merged": n` (how many
  events it folds), `"merged_tokens": k` (how many of them carried text: empty
  end-of-field markers are not tokens) and `"merged_seqs": [...]` (the later seqs it
  absorbed, ascending). A client resumes with `since=` the last seq it received and
  skips every seq it already got inside a merged frame (the page and WebSocketSource
  keep those above their last seq), so a resume has no gap and no duplicate;
- hard limit: other non-lifecycle frames (console output, status/log lines) are dropped
  and counted; lifecycle frames are never dropped;
- close limit (or over the hard limit for longer than `max_lag` seconds): the client
  is too far behind and is closed with a reason (it can reconnect and resume).

A merged item's size grows by its text and a few bytes per absorbed seq, so the byte
limits bound it too; the per-stream index holds only items that are queued.
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


# What one absorbed seq adds to a merged frame's size (its digits and a comma, about).
SEQ_COST = 8


@dataclass(slots=True)
class _Pending:
    seq: int | None
    frame: Frame | None = None  # a merged token item keeps its first (host) frame
    text: str | None = None
    parts: list[str] | None = None  # the contents folded into a merged token frame
    seqs: list[int] | None = None  # their seqs, the host's first, ascending
    final: bool = False
    size: int = 0

    @property
    def last_seq(self) -> int | None:
        return self.seqs[-1] if self.seqs else self.seq

    def render(self) -> str:
        if self.text is not None:
            return self.text
        assert self.frame is not None
        if self.parts is None or self.seqs is None:
            return self.frame.text
        parts, seqs = self.parts, self.seqs
        raw = json.loads(self.frame.text)
        raw["seq"] = seqs[0]
        raw["merged"] = len(parts)
        raw["merged_tokens"] = sum(1 for part in parts if part)
        raw["merged_seqs"] = seqs[1:]
        raw["data"]["content"] = "".join(parts)
        raw["data"]["is_final"] = self.final
        return json.dumps(raw, ensure_ascii=False, separators=(",", ":"))


@dataclass
class ClientStats:
    sent: int = 0
    merges: int = 0
    drops: int = 0


class ClientQueue:
    """The outgoing items of one client: first a replay from history, then live frames.

    Live items sit in a deque and leave in seq order (a merged item at the place and
    seq of its first token). `_tails` maps each (agent, run) to its newest queued token
    item while nothing of that run was queued after it: the item the run's next token
    of the same field may merge into (see the module docstring).
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
        self._tails: dict[tuple[str, str], _Pending] = {}
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
    def merging_streams(self) -> int:
        """How many streams have a queued item their next token may merge into."""
        return len(self._tails)

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
        self._tails.clear()
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
            tail = self._tails.get((key[0], key[1]))
            if tail is not None and tail.frame is not None and tail.frame.key == key:
                self._merge(tail, frame)
                self._check_behind()
                return
        if key is None and frame.event_type not in LIFECYCLE_EVENTS:
            if self._over(limits.hard_items, limits.hard_bytes):
                self.stats.drops += 1
                self._stats_dirty = True
                # Dropped here, but a resume may replay it: later tokens of its run
                # still must not merge past it.
                self._cut_tails(frame)
                self._check_behind()
                return
        item = _Pending(seq=frame.seq, frame=frame, size=frame.size, final=frame.is_final)
        self._push(item)
        if key is not None:
            # The run's newest token item (also ends merging into another field's item).
            self._tails[(key[0], key[1])] = item
        else:
            self._cut_tails(frame)
        self._check_behind()

    def _cut_tails(self, frame: Frame) -> None:
        """No token queued before `frame` may absorb a later token of the runs it concerns."""
        tails = self._tails
        if not tails:
            return
        if frame.barrier:
            tails.clear()
            return
        scope = frame.scope
        if scope is None:
            return
        agent, run = scope
        if run is not None:
            tails.pop((agent, run), None)
        else:  # the agent as a whole (an error without a run, a registration)
            for stream in [stream for stream in tails if stream[0] == agent]:
                del tails[stream]

    def _merge(self, item: _Pending, frame: Frame) -> None:
        """Fold `frame` into `item`, the queued head of its stream, in place."""
        assert item.frame is not None and item.seq is not None
        if item.parts is None or item.seqs is None:
            item.parts = [item.frame.content]
            item.seqs = [item.seq]
        item.parts.append(frame.content)
        item.seqs.append(frame.seq)
        item.final = item.final or frame.is_final
        grow = len(frame.content) + SEQ_COST
        item.size += grow
        self._bytes += grow
        self.stats.merges += 1
        self._stats_dirty = True

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
            frame = item.frame
            if frame is not None and frame.key is not None:
                stream = (frame.key[0], frame.key[1])
                if self._tails.get(stream) is item:
                    del self._tails[stream]
            if not self._over(self.limits.hard_items, self.limits.hard_bytes):
                self._behind_since = None
            if item.seq is not None:
                last = item.last_seq
                assert last is not None
                if last <= self.skip_until:
                    continue
                if item.seq <= self.skip_until:
                    self._requeue_after(item, self.skip_until)
                    continue
                self.sent_seq = max(self.sent_seq, last)
                self.stats.sent += 1
            return item.render()
        return None

    def _requeue_after(self, item: _Pending, since: int) -> None:
        """A merged item the client has in part (it resumed while live): queue the parts
        with seq > `since` again, at the place of the first of them."""
        assert item.parts is not None and item.seqs is not None
        keep = next(i for i, seq in enumerate(item.seqs) if seq > since)
        item.size -= sum(len(part) + SEQ_COST for part in item.parts[:keep])
        item.parts, item.seqs = item.parts[keep:], item.seqs[keep:]
        item.seq = item.seqs[0]
        pending = self._pending
        at = next(
            (
                i
                for i, other in enumerate(pending)
                if other.seq is not None and other.seq > item.seq
            ),
            len(pending),
        )
        pending.insert(at, item)
        self._bytes += item.size

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
