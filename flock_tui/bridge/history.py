"""The bridge's bounded memory of the run: recent frames, for clients that resume.

Every published envelope is encoded once into its WebSocket frame and kept here, up to
a count and a byte budget. A client that names the last seq it saw gets every later
frame from here, or learns that the history no longer reaches back that far (then the
bridge sends it a snapshot instead, see snapshot.py).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import islice

from engine.events import Envelope, encode

MergeKey = tuple[str, str, str | None]
# The agent (and run, None for the agent as a whole) an event concerns.
Scope = tuple[str, str | None]
# Events that concern no agent and never reorder against one (console lines, notices).
_UNSCOPED = frozenset({"console_output", "notice"})


@dataclass(frozen=True, slots=True)
class Frame:
    """One event's encoded text frame, shared by history and every client queue.

    Only what the queues need is kept beside the text (not the pydantic Envelope), so
    the history costs about the size of its frames.
    """

    seq: int
    event_type: str
    text: str
    key: MergeKey | None = None  # (agent_name, run_id, field) of an llm_token chunk
    content: str = ""
    is_final: bool = False
    # What a queued token may not be merged across (see clients.py): the agent and run
    # this event concerns, or `barrier` for an event that concerns every agent.
    scope: Scope | None = None
    barrier: bool = False

    @classmethod
    def of(cls, envelope: Envelope) -> Frame:
        key = merge_key(envelope)
        data = envelope.data
        scope = event_scope(envelope)
        return cls(
            seq=envelope.seq,
            event_type=envelope.event_type,
            text=encode(envelope),
            key=key,
            content=data.get("content", "") if key is not None else "",
            is_final=bool(data.get("is_final")) if key is not None else False,
            scope=scope,
            barrier=scope is None and envelope.event_type not in _UNSCOPED,
        )

    @property
    def size(self) -> int:
        return len(self.text)


def merge_key(envelope: Envelope) -> MergeKey | None:
    """The (agent, run, field) a token event belongs to, or None when it cannot merge."""
    if envelope.event_type != "streaming_output":
        return None
    data = envelope.data
    if data.get("output_type", "llm_token") != "llm_token":
        return None
    agent, run = data.get("agent_name"), data.get("run_id")
    if not isinstance(agent, str) or not isinstance(run, str):
        return None
    if not isinstance(data.get("content", ""), str):
        return None
    fld = data.get("field")
    return (agent, run, fld if isinstance(fld, str) else None)


def event_scope(envelope: Envelope) -> Scope | None:
    """The (agent, run) an event concerns; run None for the agent as a whole; None when
    it names no agent (run_started, run_finished, console lines, unknown types)."""
    data = envelope.data
    agent = data.get("produced_by" if envelope.event_type == "message_published" else "agent_name")
    if envelope.event_type == "agent_registered":
        agent = data.get("name")
    if not isinstance(agent, str):
        return None
    run = data.get("run_id")
    return (agent, run if isinstance(run, str) else None)


def without_merged_seqs(envelope: Envelope) -> Envelope:
    """The envelope without the `merged_seqs` a bridge adds to a merged token frame."""
    raw = envelope.model_dump()
    raw.pop("merged_seqs", None)
    return Envelope.model_validate(raw)


class EventHistory:
    """The most recent frames, bounded by count and by total characters."""

    def __init__(self, max_events: int = 20_000, max_bytes: int = 16 * 1024 * 1024) -> None:
        if max_events < 1 or max_bytes < 1:
            raise ValueError("history bounds must be positive")
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._frames: deque[Frame] = deque()
        self._bytes = 0
        self.total = 0
        self.evicted = 0
        self._last_evicted_seq = 0

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def first_seq(self) -> int | None:
        return self._frames[0].seq if self._frames else None

    @property
    def last_seq(self) -> int:
        """The newest seq ever appended (0 before the first event)."""
        return self._frames[-1].seq if self._frames else self._last_evicted_seq

    def append(self, frame: Frame) -> None:
        self._frames.append(frame)
        self._bytes += frame.size
        self.total += 1
        while len(self._frames) > 1 and (
            len(self._frames) > self.max_events or self._bytes > self.max_bytes
        ):
            old = self._frames.popleft()
            self._bytes -= old.size
            self._last_evicted_seq = old.seq
            self.evicted += 1

    def holds_after(self, since: int) -> bool:
        """True when every event after `since` is still here (nothing lost in between)."""
        if since >= self.last_seq:
            return True
        if not self._frames:
            return False
        if self.evicted == 0:
            return True
        return self._last_evicted_seq <= since

    def since(self, since: int, limit: int | None = None) -> list[Frame] | None:
        """Every frame with seq > since (at most `limit`), or None when some were evicted."""
        if not self.holds_after(since):
            return None
        if since >= self.last_seq:
            return []
        frames = self._frames
        # seq is strictly increasing: find the start by bisection over the deque.
        lo, hi = 0, len(frames)
        while lo < hi:
            mid = (lo + hi) // 2
            if frames[mid].seq <= since:
                lo = mid + 1
            else:
                hi = mid
        end = len(frames) if limit is None else min(len(frames), lo + limit)
        return list(islice(frames, lo, end))
