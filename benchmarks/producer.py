"""The synthetic producer: a child process that writes engine events on the event pipe.

Run as a script (by ChildProcessSource or by the benchmarks' own reader) with env
FLOCK_TUI_EVENT_FD=<fd>. It writes JSON-lines envelopes made by the real
`engine.events.EventFactory` and `encode_line`.

Modes:
- ``rate``: N agents registered and activated, then for T seconds each agent emits R
  word-sized ``llm_token`` events per second, spread evenly over time (slot j of the
  whole stream is due at t0 + j / (N * R), round robin over the agents), then
  ``agent_completed`` for every agent.
- ``flood``: E token events (pre-encoded before the first write) written as fast as the
  pipe takes them: the pipe-throughput figure.
- ``lines``: every agent streams L lines of text, K lines per event, as fast as possible:
  the scrollback-memory figure.

Every ``streaming_output`` carries an extra data field ``t_created`` (epoch seconds, full
precision) from which the renderer side computes event-to-frame latency. In rate mode it
is the token's slot time (t0 + j / (N * R)), so a renderer that stops reading, fills the
pipe and blocks the producer is charged for the wait; elsewhere it is ``time.time()``.
This file imports only the standard library and engine.events, so it runs as a plain
script in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Iterator

from engine.events import (
    AgentActivated,
    AgentCompleted,
    AgentRegistered,
    EventFactory,
    RunStarted,
    StreamingOutput,
    encode_line,
)

EVENT_FD_ENV = "FLOCK_TUI_EVENT_FD"
FIELD = "draft"

_WORDS = (
    "the agent reads a typed artifact from the blackboard and writes a short draft about "
    "parallel streaming latency frames panes tokens terminal renderer budget queue pipe "
    "review editor critic summary outline evidence claim source figure table result model "
    "context window careful simple robust measured quickly slowly often rarely because while "
    "although therefore however moreover"
).split()


def agent_name(index: int) -> str:
    return f"agent-{index:02d}"


def token_text(rng: random.Random, sequence: int) -> str:
    """A word-sized token; sentences end every ~12 tokens, paragraphs every ~60."""
    word = rng.choice(_WORDS)
    if sequence % 60 == 59:
        return f" {word}.\n\n"
    if sequence % 12 == 11:
        return f" {word}."
    return f" {word}"


class Writer:
    """Writes whole byte strings to the event fd (loops over partial writes)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.events = 0

    def write(self, data: bytes, count: int = 1) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        self.events += count


def _prologue(factory: EventFactory, agents: int, argv: list[str]) -> Iterator[bytes]:
    yield encode_line(
        factory.make(RunStarted(script="benchmarks/producer.py", argv=argv, pid=os.getpid()))
    )
    for index in range(agents):
        yield encode_line(
            factory.make(
                AgentRegistered(
                    name=agent_name(index),
                    description="synthetic benchmark agent",
                    consumes=["Topic"],
                    publishes=["Draft"],
                    model="synthetic",
                )
            )
        )
    for index in range(agents):
        yield encode_line(
            factory.make(
                AgentActivated(
                    agent_name=agent_name(index),
                    run_id=f"run-{index:02d}",
                    consumed_types=["Topic"],
                    produced_types=["Draft"],
                    model="synthetic",
                )
            )
        )


def _token(
    factory: EventFactory, index: int, sequence: int, content: str, created: float | None = None
) -> bytes:
    return encode_line(
        factory.make(
            StreamingOutput(
                agent_name=agent_name(index),
                run_id=f"run-{index:02d}",
                output_type="llm_token",
                field=FIELD,
                content=content,
                sequence=sequence,
                # extra data field (the models allow extras): when the token came to be
                t_created=time.time() if created is None else created,  # type: ignore[call-arg]
            )
        )
    )


def _epilogue(factory: EventFactory, agents: int, sequences: list[int], elapsed: float) -> bytes:
    lines = [
        encode_line(
            factory.make(
                AgentCompleted(
                    agent_name=agent_name(index),
                    run_id=f"run-{index:02d}",
                    duration_ms=elapsed * 1000.0,
                    metrics={"tokens": sequences[index]},
                )
            )
        )
        for index in range(agents)
    ]
    return b"".join(lines)


def run_rate(writer: Writer, agents: int, rate: float, seconds: float, seed: int) -> None:
    factory = EventFactory()
    writer.write(b"".join(_prologue(factory, agents, sys.argv[1:])), agents * 2 + 1)
    rng = random.Random(seed)
    sequences = [0] * agents
    total = int(agents * rate * seconds)
    interval = 1.0 / (agents * rate)
    t0 = time.monotonic()
    wall0 = time.time()
    slot = 0
    while slot < total:
        now = time.monotonic()
        due = min(total, int((now - t0) / interval) + 1)
        if due > slot:
            chunk = []
            for j in range(slot, due):
                index = j % agents
                # Created at its slot time: if a renderer stops reading and the pipe fills,
                # the write blocks, and the tokens that fell due meanwhile keep their
                # slot times, so their latency includes that wait (as an LLM stream would).
                text = token_text(rng, sequences[index])
                chunk.append(_token(factory, index, sequences[index], text, wall0 + j * interval))
                sequences[index] += 1
            writer.write(b"".join(chunk), len(chunk))
            slot = due
        if slot < total:
            delay = t0 + slot * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    writer.write(_epilogue(factory, agents, sequences, time.monotonic() - t0), agents)


def run_flood(writer: Writer, agents: int, events: int, seed: int, chunk_events: int = 256) -> None:
    factory = EventFactory()
    writer.write(b"".join(_prologue(factory, agents, sys.argv[1:])), agents * 2 + 1)
    rng = random.Random(seed)
    sequences = [0] * agents
    lines: list[bytes] = []
    for j in range(events):
        index = j % agents
        lines.append(_token(factory, index, sequences[index], token_text(rng, sequences[index])))
        sequences[index] += 1
    # t_created is the pre-encoding time here; the flood figure is a rate, not a latency.
    for start in range(0, events, chunk_events):
        part = lines[start : start + chunk_events]
        writer.write(b"".join(part), len(part))
    writer.write(_epilogue(factory, agents, sequences, 0.0), agents)


def run_lines(
    writer: Writer, agents: int, lines_per_agent: int, lines_per_event: int, seed: int
) -> None:
    factory = EventFactory()
    writer.write(b"".join(_prologue(factory, agents, sys.argv[1:])), agents * 2 + 1)
    rng = random.Random(seed)
    sequences = [0] * agents
    written = [0] * agents
    t0 = time.monotonic()
    while min(written) < lines_per_agent:
        chunk = []
        for index in range(agents):
            count = min(lines_per_event, lines_per_agent - written[index])
            if count <= 0:
                continue
            text = "".join(
                f"line {written[index] + k + 1:5d}:"
                + "".join(f" {rng.choice(_WORDS)}" for _ in range(4))
                + "\n"
                for k in range(count)
            )
            chunk.append(_token(factory, index, sequences[index], text))
            sequences[index] += 1
            written[index] += count
        writer.write(b"".join(chunk), len(chunk))
    writer.write(_epilogue(factory, agents, sequences, time.monotonic() - t0), agents)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Synthetic flock-tui event producer.")
    parser.add_argument("--mode", choices=("rate", "flood", "lines"), default="rate")
    parser.add_argument("--agents", type=int, default=16)
    parser.add_argument("--rate", type=float, default=50.0, help="tokens/s per agent")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--events", type=int, default=100_000, help="flood: token events")
    parser.add_argument("--lines", type=int, default=10_000, help="lines: lines per agent")
    parser.add_argument("--lines-per-event", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="sleep before the first event")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    fd_text = os.environ.get(EVENT_FD_ENV)
    if not fd_text:
        print(f"producer: {EVENT_FD_ENV} is not set", file=sys.stderr)
        return 2
    writer = Writer(int(fd_text))
    if args.delay > 0:
        time.sleep(args.delay)
    try:
        if args.mode == "rate":
            run_rate(writer, args.agents, args.rate, args.seconds, args.seed)
        elif args.mode == "flood":
            run_flood(writer, args.agents, args.events, args.seed)
        else:
            run_lines(writer, args.agents, args.lines, args.lines_per_event, args.seed)
    except BrokenPipeError:
        return 1
    finally:
        os.close(writer.fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
