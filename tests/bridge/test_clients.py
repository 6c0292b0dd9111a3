"""The per-client queue: merging under pressure, drop accounting, never-dropped lifecycle."""

from __future__ import annotations

import json

from engine.events import (
    AgentActivated,
    ConsoleOutput,
    EventFactory,
    MessagePublished,
    StreamingOutput,
)
from flock_tui.bridge.clients import ClientQueue, QueueLimits
from flock_tui.bridge.history import EventHistory, Frame

from .conftest import token

SMALL = QueueLimits(
    soft_items=4,
    soft_bytes=10**9,
    hard_items=8,
    hard_bytes=10**9,
    close_items=50,
    close_bytes=10**9,
)


def frame(envelope) -> Frame:
    return Frame.of(envelope)


def drain(queue: ClientQueue) -> list[dict]:
    return [json.loads(text) for text in queue.drain_nowait()]


def test_no_merging_without_pressure(factory: EventFactory):
    queue = ClientQueue(SMALL)
    for i in range(3):
        queue.offer(frame(token(factory, "a", f"t{i}")))
    out = drain(queue)
    assert [o["data"]["content"] for o in out] == ["t0", "t1", "t2"]
    assert all("merged" not in o for o in out)


def test_tokens_of_same_stream_merge_under_pressure(factory: EventFactory):
    queue = ClientQueue(SMALL)
    for i in range(4):  # fill up to the soft limit with another stream
        queue.offer(frame(token(factory, "b", f"b{i}")))
    for i in range(5):
        queue.offer(frame(token(factory, "a", f"a{i}", field="text")))
    queue.offer(frame(token(factory, "a", "other-field", field="title")))
    queue.offer(frame(token(factory, "a", "other-run", run_id="r2")))
    out = drain(queue)
    events = [o for o in out if "type" not in o]
    a_text = [
        o
        for o in events
        if o["data"]["agent_name"] == "a"
        and o["data"]["field"] == "text"
        and o["data"]["run_id"] == "r1"
    ]
    # a0 starts an item of its stream; a1..a4 fold into it, moving it to the end.
    assert len(a_text) == 1
    assert a_text[0]["data"]["content"] == "a0a1a2a3a4"
    assert a_text[0]["merged"] == 5
    assert a_text[0]["seq"] == 9  # the later seq is kept
    seqs = [o["seq"] for o in events]
    assert seqs == sorted(seqs)  # still strictly increasing for the client
    assert queue.stats.merges == 4
    assert len(events) == 4 + 1 + 2  # other field and other run are separate streams
    stats = [o for o in out if o.get("type") == "stats"]
    assert stats and stats[-1]["merges"] == 4


def test_a_merge_never_moves_text_past_another_event(factory: EventFactory):
    """Whatever seq a client last received, every event up to it has reached it."""
    queue = ClientQueue(SMALL)
    sent: dict[int, str] = {}
    for i in range(4):  # fill up to the soft limit with another stream
        envelope = token(factory, "b", f"b{i}")
        sent[envelope.seq] = f"b{i}"
        queue.offer(frame(envelope))
    for i in range(12):  # two streams interleaved, and an activation in between
        name = "ac"[i % 2]
        envelope = token(factory, name, f"{name}{i}")
        sent[envelope.seq] = f"{name}{i}"
        queue.offer(frame(envelope))
        if i == 5:
            queue.offer(frame(factory.make(AgentActivated(agent_name="d", run_id="d1"))))
        if i >= 8:  # then "c" alone: its tokens merge
            queue.offer(frame(envelope := token(factory, "c", f"c{i}x")))
            sent[envelope.seq] = f"c{i}x"
    events = [o for o in drain(queue) if "type" not in o]
    received = ""
    for out in events:
        received += out["data"].get("content", "")
        expected = "".join(text for seq, text in sorted(sent.items()) if seq <= out["seq"])
        assert received == expected
    assert any("merged" in o for o in events)


def test_drops_non_lifecycle_but_never_lifecycle(factory: EventFactory):
    queue = ClientQueue(SMALL)
    for i in range(8):
        queue.offer(frame(factory.make(ConsoleOutput(text=f"line {i}"))))
    queue.offer(frame(factory.make(ConsoleOutput(text="dropped"))))
    queue.offer(
        frame(
            factory.make(
                StreamingOutput(agent_name="a", run_id="r", output_type="status", content="x")
            )
        )
    )
    assert queue.stats.drops == 2
    for i in range(10):
        queue.offer(frame(factory.make(AgentActivated(agent_name="a", run_id=f"r{i}"))))
        queue.offer(
            frame(
                factory.make(
                    MessagePublished(artifact_id=f"x{i}", artifact_type="T", produced_by="a")
                )
            )
        )
    assert queue.stats.drops == 2
    out = [o for o in drain(queue) if "type" not in o]
    kinds = [o["event_type"] for o in out]
    assert kinds.count("agent_activated") == 10 and kinds.count("message_published") == 10
    assert "dropped" not in [o["data"].get("text") for o in out]


def test_too_far_behind_flag(factory: EventFactory):
    queue = ClientQueue(SMALL)
    for i in range(60):
        queue.offer(frame(factory.make(AgentActivated(agent_name="a", run_id=f"r{i}"))))
    assert queue.too_far_behind
    assert queue.pending_items == SMALL.close_items  # nothing queued after that


def test_replay_then_live_and_skip_until(factory: EventFactory):
    history = EventHistory()
    envelopes = [token(factory, "a", f"t{i}") for i in range(6)]
    for envelope in envelopes[:4]:
        history.append(frame(envelope))
    queue = ClientQueue(SMALL)
    queue.replay(history.since(1) or [], ['{"type": "hello"}'])
    queue.offer(frame(envelopes[4]))
    queue.skip_until = 2
    queue.offer(frame(envelopes[5]))
    out = drain(queue)
    assert out[0] == {"type": "hello"}
    assert [o["seq"] for o in out[1:]] == [3, 4, 5, 6]


def test_history_bounds_and_since(factory: EventFactory):
    history = EventHistory(max_events=5)
    for i in range(12):
        history.append(frame(token(factory, "a", f"t{i}")))
    assert len(history) == 5 and history.first_seq == 8 and history.last_seq == 12
    assert history.since(6) is None  # seq 7 is gone
    assert [f.seq for f in history.since(7)] == [8, 9, 10, 11, 12]
    assert [f.seq for f in history.since(10, limit=1)] == [11]
    assert history.since(12) == []
    by_bytes = EventHistory(max_bytes=1000)
    for i in range(50):
        by_bytes.append(frame(token(factory, "a", f"t{i}")))
    assert by_bytes.bytes <= 1000 and by_bytes.evicted > 0


def test_staying_over_the_hard_limit_too_long_is_too_far_behind(factory: EventFactory, monkeypatch):
    import flock_tui.bridge.clients as clients

    now = [1000.0]
    monkeypatch.setattr(clients.time, "monotonic", lambda: now[0])
    limits = QueueLimits(
        soft_items=2,
        soft_bytes=10**9,
        hard_items=4,
        hard_bytes=10**9,
        close_items=100,
        close_bytes=10**9,
        max_lag=5.0,
    )
    queue = ClientQueue(limits)
    for i in range(5):
        queue.offer(frame(factory.make(AgentActivated(agent_name="a", run_id=f"r{i}"))))
    assert not queue.too_far_behind  # over the hard limit, but only just now
    now[0] += 4.0
    queue.offer(frame(factory.make(AgentActivated(agent_name="a", run_id="x"))))
    assert not queue.too_far_behind
    queue.pop_nowait()  # the client reads a little: still over the limit
    now[0] += 2.0
    queue.offer(frame(factory.make(AgentActivated(agent_name="a", run_id="y"))))
    assert queue.too_far_behind
