"""The event protocol: envelope, codec round trip, seq order."""

from __future__ import annotations

import json
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.events import (
    AgentActivated,
    EventFactory,
    MessagePublished,
    ProtocolError,
    StreamingOutput,
    decode,
    encode,
    encode_line,
)


def test_round_trip_keeps_every_field() -> None:
    factory = EventFactory(session_id="s1")
    env = factory.make(
        StreamingOutput(agent_name="writer", run_id="r1", field="title", content="Hi", sequence=3),
        correlation_id="c1",
    )
    back = decode(encode_line(env))
    assert back == env
    payload = back.payload()
    assert isinstance(payload, StreamingOutput)
    assert payload.content == "Hi" and payload.field == "title" and payload.sequence == 3
    assert back.correlation_id == "c1" and back.session_id == "s1" and back.v == 1


@given(st.text())
def test_any_text_survives_one_line(text: str) -> None:
    env = EventFactory().make(StreamingOutput(agent_name="a", run_id="r", content=text))
    line = encode(env)
    assert "\n" not in line
    decoded = decode(line).payload()
    assert isinstance(decoded, StreamingOutput)
    assert decoded.content == text


def test_seq_strictly_increases_across_threads() -> None:
    factory = EventFactory()
    seen: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(500):
            env = factory.make(AgentActivated(agent_name="a", run_id="r"))
            with lock:
                seen.append(env.seq)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(1, 2001))


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "empty line"),
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"seq": 1}', "bad envelope"),
        (
            json.dumps({"v": 9, "seq": 1, "event_type": "x", "timestamp": "t", "session_id": "s"}),
            "unsupported protocol version",
        ),
        (
            json.dumps(
                {
                    "v": 1,
                    "seq": 1,
                    "event_type": "agent_error",
                    "timestamp": "t",
                    "session_id": "s",
                    "data": {"agent_name": "a"},
                }
            ),
            "bad agent_error data",
        ),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_lines_raise_one_line_reason(line: str | bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason) as info:
        decode(line)
    assert "\n" not in str(info.value)


def test_unknown_event_type_is_kept_not_rejected() -> None:
    line = json.dumps(
        {
            "v": 1,
            "seq": 5,
            "event_type": "future_thing",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "session_id": "s",
            "data": {"x": 1},
        }
    )
    env = decode(line)
    assert env.event_type == "future_thing" and env.payload() is None


def test_payload_event_type_not_in_data() -> None:
    env = EventFactory().make(
        MessagePublished(artifact_id="a1", artifact_type="Blog", produced_by="w", payload={"t": 1})
    )
    assert "event_type" not in env.data
    assert env.event_type == "message_published"


def test_lone_surrogates_are_replaced_so_the_line_is_utf8() -> None:
    env = EventFactory().make(
        StreamingOutput(
            agent_name="a\udcff", run_id="r", content="bad \udcff byte, ok \u00e9 \U0001f600"
        )
    )
    line = encode_line(env)  # must not raise UnicodeEncodeError
    decoded = decode(line)
    payload = decoded.payload()
    assert isinstance(payload, StreamingOutput)
    assert payload.content == "bad \ufffd byte, ok \u00e9 \U0001f600"
    assert decoded.data["agent_name"] == "a\ufffd"


def test_decode_refuses_deep_nesting_with_a_protocol_error() -> None:
    """One hostile line must be one counted bad line, not a RecursionError that kills the
    reader of the pipe or the WebSocket."""
    with pytest.raises(ProtocolError, match="nested too deeply"):
        decode("[" * 100_000)
    deep = "[" * 5_000 + "]" * 5_000
    line = (
        '{"v":1,"seq":1,"event_type":"message_published","timestamp":"2026-01-01T00:00:00Z",'
        '"session_id":"s","data":{"artifact_id":"a","artifact_type":"T","produced_by":"p",'
        f'"payload":{{"x":{deep}}}}}}}'
    )
    with pytest.raises(ProtocolError, match="nested too deeply"):
        decode(line)


def test_decode_replaces_lone_surrogates_and_keeps_real_pairs() -> None:
    base = (
        '{"v":1,"seq":1,"event_type":"streaming_output","timestamp":"2026-01-01T00:00:00Z",'
        '"session_id":"s","data":{"agent_name":"a","run_id":"r","content":"%s"}}'
    )
    assert decode(base % "x\\ud800y").data["content"] == "x\ufffdy"
    assert decode(base % "x\\uDC00").data["content"] == "x\ufffd"
    assert decode(base % "\\ud83d\\ude00").data["content"] == "\U0001f600"
