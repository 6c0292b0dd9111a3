"""The per-client queue: merging under pressure, drop accounting, never-dropped lifecycle."""

from __future__ import annotations

import json
from dataclasses import replace

from engine.events import (
    AgentActivated,
    AgentCompleted,
    AgentError,
    ConsoleOutput,
    Envelope,
    EventFactory,
    MessagePublished,
    RunFinished,
    RunNotice,
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
    # a0 starts an item of its stream; a1..a4 fold into it, where it is.
    assert len(a_text) == 1
    assert a_text[0]["data"]["content"] == "a0a1a2a3a4"
    assert a_text[0]["merged"] == 5
    assert a_text[0]["seq"] == 5  # the first seq is kept ...
    assert a_text[0]["merged_seqs"] == [6, 7, 8, 9]  # ... and the absorbed ones named
    seqs = [o["seq"] for o in events]
    assert seqs == sorted(seqs)  # still strictly increasing for the client
    assert queue.stats.merges == 4
    assert len(events) == 4 + 1 + 2  # other field and other run are separate streams
    stats = [o for o in out if o.get("type") == "stats"]
    assert stats and stats[-1]["merges"] == 4


def expand(events: list[dict]) -> list[int]:
    """The seqs a client has received, in the order it received them (merged ones too)."""
    return [seq for o in events for seq in [o["seq"], *o.get("merged_seqs", [])]]


EIGHT = replace(SMALL, soft_items=16, hard_items=400, close_items=800)


def test_interleaved_streams_each_merge_into_their_own_item(factory: EventFactory):
    """Eight agents streaming at once: under pressure each token folds into its own
    stream's queued item, so a client that does not read stays a few items behind."""
    queue = ClientQueue(EIGHT)
    expected: dict[str, str] = {}
    offered: list[int] = []
    for i in range(8000):
        name = f"agent{i % 8}"
        envelope = token(factory, name, f"{i} ", run_id=f"run-{name}")
        expected[name] = expected.get(name, "") + f"{i} "
        offered.append(envelope.seq)
        queue.offer(frame(envelope))
    assert not queue.too_far_behind
    assert queue.stats.merges == 8000 - EIGHT.soft_items
    assert queue.pending_items == EIGHT.soft_items
    assert queue.merging_streams == 8
    events = [o for o in drain(queue) if "type" not in o]
    seqs = [o["seq"] for o in events]
    assert seqs == sorted(set(seqs))  # strictly increasing for the client
    assert sorted(expand(events)) == offered  # every seq exactly once
    for o in events:
        assert o.get("merged_seqs", []) == sorted(o.get("merged_seqs", []))
        assert all(later > o["seq"] for later in o.get("merged_seqs", []))
    text: dict[str, str] = {}
    for o in events:
        name = o["data"]["agent_name"]
        text[name] = text.get(name, "") + o["data"]["content"]
    assert text == expected


def test_a_token_never_merges_past_an_event_of_its_own_run(factory: EventFactory):
    """Tokens merge across other runs' events, never across one of their own run (a
    status line, another field, a completion), an agent-wide one or a run-wide one."""
    queue = ClientQueue(replace(EIGHT, soft_items=4))
    for i in range(4):  # fill up to the soft limit with another stream
        queue.offer(frame(token(factory, "b", f"b{i}")))
    offered: list[Envelope] = []

    def offer(envelope: Envelope) -> None:
        offered.append(envelope)
        queue.offer(frame(envelope))

    status = dict(agent_name="a", run_id="r1", output_type="status")
    offer(token(factory, "a", "t0 "))
    offer(factory.make(AgentActivated(agent_name="c", run_id="c1")))  # another agent: merges
    offer(token(factory, "a", "t1 "))
    offer(factory.make(StreamingOutput(**status, content="tool call")))
    offer(token(factory, "a", "t2 "))  # after its run's status line: a new item
    offer(token(factory, "a", "t3 "))
    offer(token(factory, "a", "x0 ", field="title"))  # another field of the run
    offer(token(factory, "a", "t4 "))  # back to text: not into t2's item
    offer(factory.make(AgentError(agent_name="a", error_type="E", error_message="m")))
    offer(token(factory, "a", "t5 "))  # after an agent-wide error: a new item
    offer(token(factory, "a", "u0 ", run_id="r2"))
    offer(factory.make(AgentCompleted(agent_name="a", run_id="r2")))  # another run of a
    offer(token(factory, "a", "t6 "))  # merges into t5 across r2's completion
    offer(factory.make(RunNotice(level="info", text="note")))  # concerns no agent: merges
    offer(token(factory, "a", "t7 "))
    offer(factory.make(RunFinished(exit_code=0)))  # concerns every agent
    offer(token(factory, "a", "t8 "))
    events = [o for o in drain(queue) if "type" not in o and o["data"].get("agent_name") != "b"]
    assert [o["data"].get("content") for o in events if o["event_type"] == "streaming_output"] == [
        "t0 t1 ",
        "tool call",
        "t2 t3 ",
        "x0 ",
        "t4 ",
        "t5 t6 t7 ",
        "u0 ",
        "t8 ",
    ]
    # Each run's events reach the client in the order they happened.
    received = expand(events)
    by_seq = {e.seq: e for e in offered}
    for run in {(e.data.get("agent_name"), e.data.get("run_id")) for e in offered}:
        mine = [
            s
            for s in received
            if (by_seq[s].data.get("agent_name"), by_seq[s].data.get("run_id")) == run
        ]
        assert mine == sorted(mine), run
    assert sorted(received) == [e.seq for e in offered]


def test_a_dropped_status_line_still_ends_merging_across_it(factory: EventFactory):
    """Dropped for this client, but a resume may replay it from the history: the run's
    later tokens must not have moved before it."""
    queue = ClientQueue(SMALL)
    for i in range(8):  # up to the hard limit
        queue.offer(frame(token(factory, "b", f"b{i}", run_id=f"b{i}")))
    queue.offer(frame(token(factory, "a", "t0 ")))  # over the hard limit: tokens still merge
    queue.offer(frame(token(factory, "a", "t1 ")))
    status = StreamingOutput(agent_name="a", run_id="r1", output_type="status", content="tool")
    queue.offer(frame(factory.make(status)))
    assert queue.stats.drops == 1
    queue.offer(frame(token(factory, "a", "t2 ")))
    texts = [
        o["data"]["content"] for o in drain(queue) if o.get("data", {}).get("agent_name") == "a"
    ]
    assert texts == ["t0 t1 ", "t2 "]


def test_a_resume_while_live_gets_the_rest_of_a_merged_item(factory: EventFactory):
    """A client that says (resume, while streaming) it has part of a merged item gets
    the rest of it, in seq order with the items queued after it."""
    queue = ClientQueue(SMALL)
    for i in range(4):
        queue.offer(frame(token(factory, "b", f"b{i}", run_id=f"b{i}")))
    for i in range(6):
        queue.offer(frame(token(factory, "a", f"a{i} ")))  # seqs 5, 7, 9, 11, 13, 15
        queue.offer(frame(factory.make(AgentActivated(agent_name="c", run_id=f"c{i}"))))
    queue.skip_until = 8  # the client has seqs 1..8 (a0 a1 among them)
    events = [o for o in drain(queue) if "type" not in o]
    assert [o["seq"] for o in events] == [9, 10, 12, 14, 16]
    assert events[0]["data"]["content"] == "a2 a3 a4 a5 "
    assert events[0]["merged_seqs"] == [11, 13, 15]


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
