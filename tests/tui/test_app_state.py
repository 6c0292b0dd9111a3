"""The pure run model: events in, agents/runs/feed/totals out (no Textual)."""

from __future__ import annotations

from engine.events import (
    AgentCompleted,
    AgentError,
    ConsoleOutput,
    MessagePublished,
    RunFinished,
    RunStarted,
    StreamingOutput,
    decode,
)
from flock_tui.runmodel import FieldText, StatusLines
from flock_tui.sources.base import SourceEnded, SourceNotice
from flock_tui.state import RunState


def replay(name: str, tui) -> RunState:
    state = RunState()
    for line in tui.fixture(name).read_text().splitlines():
        state.apply(decode(line))
    return state


def test_fields_stream_in_order_and_badges_follow_the_run(events):
    state = RunState()
    state.apply(events(RunStarted(script="s.py", model="offline")))
    state.apply(events.register("writer"))
    changes = state.take_changes()
    assert changes.new_agents == ["writer"]
    agent = state.agents["writer"]
    assert agent.badge == "idle" and agent.model == "m"
    state.apply(events.activate("writer", "r1"))
    assert agent.badge == "queued"
    for word in ["Hello ", "flock", "\n", "world"]:
        state.apply(events.token("writer", "r1", "body", word))
    state.apply(events.token("writer", "r1", "title", "T"))
    assert agent.badge == "running"
    run = agent.runs["r1"]
    assert run.field_text("body") == "Hello flock\nworld"
    assert [p.name for p in run.parts if isinstance(p, FieldText)] == ["body", "title"]
    assert run.tokens == 5 and run.trigger_types == ["Idea"]
    state.apply(events(AgentCompleted(agent_name="writer", run_id="r1", metrics={"tokens": 42})))
    assert agent.badge == "done" and run.tokens == 42
    assert state.take_changes().agents == {"writer"}


def test_concurrent_runs_of_one_agent_are_kept_apart(events):
    state = RunState()
    state.apply(events.activate("w", "a"))
    state.apply(events.activate("w", "b", iteration=2))
    for i in range(5):
        state.apply(events.token("w", "a", "text", f"a{i} "))
        state.apply(events.token("w", "b", "text", f"b{i} "))
    agent = state.agents["w"]
    assert agent.runs["a"].field_text("text") == "a0 a1 a2 a3 a4 "
    assert agent.runs["b"].field_text("text") == "b0 b1 b2 b3 b4 "
    assert agent.iterations == 2 and agent.runs["b"].iteration == 2


def test_elapsed_and_rate_come_from_event_time(events):
    state = RunState()
    state.apply(events.activate("w", "r"))  # t = 10 ms
    for _ in range(10):
        state.apply(events.token("w", "r", "f", "x "))  # t = 20..110 ms
    run = state.agents["w"].runs["r"]
    assert state.clock is not None
    assert abs(run.elapsed(state.clock) - 0.1) < 1e-9
    assert abs(run.tokens_per_second(state.clock) - 100.0) < 1e-6
    assert abs(state.elapsed - 0.1) < 1e-9


def test_the_rate_counts_from_the_first_token_not_from_activation(events):
    """A run that waited for a concurrency slot (or the LLM's first byte) streams no
    slower for it: 10 tokens 10 ms apart are 100 tok/s, whatever came before."""
    state = RunState()
    state.apply(events.activate("w", "r"))
    events.ms += 2_000  # queued for two seconds
    for _ in range(10):
        state.apply(events.token("w", "r", "f", "x "))
    state.apply(events.token("w", "r", "f", ""))  # the field's end marker: not a token
    run = state.agents["w"].runs["r"]
    assert run.tokens == 10
    assert run.elapsed(state.clock) > 2.0
    # 9 gaps up to the end marker, 100 ms after the first token: 90 tok/s (not 10 / 2.1 s)
    assert abs(run.tokens_per_second(state.clock) - 90.0) < 1e-6


def test_status_lines_artifacts_errors_console_and_end(events):
    state = RunState()
    state.apply(events.activate("w", "r"))
    state.apply(
        events(
            StreamingOutput(
                agent_name="w", run_id="r", output_type="status", content="tool: a\ntool: b"
            )
        )
    )
    state.apply(
        events(
            MessagePublished(
                artifact_id="x1",
                artifact_type="Note",
                produced_by="w",
                payload={"k": 1},
                correlation_id="c1",
                run_id="r",
            )
        )
    )
    state.apply(
        events(AgentError(agent_name="w", run_id="r", error_type="E", error_message="boom"))
    )
    state.apply(events(ConsoleOutput(stream="stderr", text="one\ntwo\n")))
    run = state.agents["w"].runs["r"]
    status = run.parts[0]
    assert isinstance(status, StatusLines) and status.lines == ["tool: a", "tool: b"]
    assert [a.artifact_id for a in run.artifacts] == ["x1"]
    assert run.status == "error" and run.error == "E: boom"
    assert state.agents["w"].badge == "error"
    assert [(e.artifact_type, e.produced_by, e.correlation_id) for e in state.feed] == [
        ("Note", "w", "c1")
    ]
    assert [(c.stream, c.text) for c in state.console] == [("stderr", "one"), ("stderr", "two")]
    state.apply(events(RunFinished(exit_code=3)))
    state.apply(SourceEnded(exit_code=None, reason="eof"))
    assert state.ended and state.exit_code == 3


def test_notices_and_sequence_gaps_become_warnings(events):
    state = RunState()
    state.apply(events.register("a"))
    events.factory.make(RunStarted())  # a seq that never arrives
    state.apply(events.register("b"))
    state.apply(SourceNotice("warning", "line 7: not JSON \x1b[31m"))
    assert any("missing" in w for w in state.warnings)
    assert "warning: line 7: not JSON " in state.warnings
    assert state.warning_count == 2
    # Shown in the console in arrival order (one order however the items were batched).
    assert [c.stream for c in state.take_changes().console] == ["warning", "warning"]


def test_a_crashed_script_fails_its_unfinished_runs(events):
    state = RunState()
    state.apply(events.activate("w", "r"))
    state.apply(events.token("w", "r", "f", "half"))
    state.apply(events(RunFinished(exit_code=1)))
    run = state.agents["w"].runs["r"]
    assert run.status == "error" and "code 1" in (run.error or "")
    assert run.field_text("f") == "half"


def test_a_cut_record_leaves_runs_running(tui):
    state = replay("mid_run", tui)
    state.apply(SourceEnded(exit_code=None, reason="eof"))
    assert any(a.badge == "running" for a in state.agents.values())


def test_blog_loop_fixture_counts_three_iterations(tui):
    state = replay("blog_loop", tui)
    writer = state.agents["writer"]
    assert writer.iterations == 3
    assert [r.iteration for r in writer.runs.values()] == [1, 2, 3]
    assert state.exit_code == 0 and state.artifact_count == 7


def test_field_text_since_returns_unseen_text():
    text = FieldText("f")
    pieces = [f"{i}," for i in range(1000)]
    for piece in pieces:
        text.append(piece)
    full = "".join(pieces)
    assert text.text == full
    for pos in (0, 1, 5, len(full) - 3, len(full)):
        assert text.since(pos) == full[pos:]


def test_an_error_of_the_agent_not_of_a_run_changes_no_run(events):
    """A circuit breaker or a raising where-predicate has no run_id: it is a warning and
    a status line, never relabels the agent's finished run, never invents a run."""
    state = RunState()
    state.apply(events.register("writer"))
    state.apply(events.register("critic"))
    state.apply(events.activate("writer", "r1"))
    state.apply(events.token("writer", "r1", "body", "draft"))
    state.apply(events(AgentCompleted(agent_name="writer", run_id="r1", duration_ms=5)))
    breaker = AgentError(
        agent_name="writer",
        error_type="CircuitBreakerOpen",
        error_message="writer reached 5 iterations",
    )
    predicate = AgentError(
        agent_name="critic", error_type="ZeroDivisionError", error_message="in where="
    )
    state.apply(events(breaker))
    state.apply(events(predicate))
    writer, critic = state.agents["writer"], state.agents["critic"]
    assert list(writer.runs) == ["r1"] and writer.runs["r1"].status == "done"
    assert writer.badge == "done" and writer.runs["r1"].error is None
    last = writer.runs["r1"].parts[-1]
    assert isinstance(last, StatusLines)
    assert last.lines == ["⚠ CircuitBreakerOpen: writer reached 5 iterations"]
    assert critic.runs == {} and critic.badge == "idle"
    assert state.warning_count == 2
    assert state.warnings[-1] == "critic: ZeroDivisionError: in where="


def test_a_field_streamed_again_after_a_tool_step_starts_a_new_block(events):
    """ReAct: thought, tool call, tool result, thought: shown in that order, the two
    thoughts apart (not glued into the first block above the tool lines)."""
    state = RunState()
    state.apply(events.register("html_writer"))
    state.apply(events.activate("html_writer", "r1"))
    state.apply(events.token("html_writer", "r1", "next_thought", "I will call the tool."))
    for line in ("⚙ calling write_html", "⚙ write_html returned ok"):
        state.apply(
            events(
                StreamingOutput(
                    agent_name="html_writer", run_id="r1", output_type="status", content=line
                )
            )
        )
    state.apply(events.token("html_writer", "r1", "next_thought", "I now have what I need."))
    state.apply(events.token("html_writer", "r1", "next_thought", " Done."))
    parts = state.agents["html_writer"].runs["r1"].parts
    shown = [(p.name, p.text) if isinstance(p, FieldText) else ("status", p.lines) for p in parts]
    assert shown == [
        ("next_thought", "I will call the tool."),
        ("status", ["⚙ calling write_html", "⚙ write_html returned ok"]),
        ("next_thought", "I now have what I need. Done."),
    ]


def test_a_frame_merged_by_the_bridge_counts_all_its_tokens(events):
    """attach to a slow link: the bridge folds a stream's tokens into one frame and says
    how many (merged_tokens); the pane's count matches the run's."""
    state = RunState()
    state.apply(events.activate("w", "r"))
    merged = events.token("w", "r", "f", "one two three four five ")
    merged = decode(merged.model_dump_json()[:-1] + ',"merged":5,"merged_tokens":5}')
    state.apply(merged)
    state.apply(events.token("w", "r", "f", "six"))
    run = state.agents["w"].runs["r"]
    assert run.tokens == 6 and run.field_text("f") == "one two three four five six"
