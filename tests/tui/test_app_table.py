"""The published artifact table: streamed fields previewed on one line, the rest in full."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.events import AgentCompleted, MessagePublished
from flock_tui.app import FlockApp
from flock_tui.runmodel import FieldText, RunModel
from flock_tui.widgets.artifact import preview, streamed_fields, value_text

BODY = " ".join(f"word{i}" for i in range(120))


def publish(events, payload: dict) -> list:
    return [
        events(
            MessagePublished(
                artifact_id="art-1",
                artifact_type="Report",
                produced_by="w",
                payload=payload,
                run_id="r",
            )
        ),
        events(AgentCompleted(agent_name="w", run_id="r", artifact_ids=["art-1"])),
    ]


def finished_app(tui, events, payload: dict, streamed: dict[str, str]) -> FlockApp:
    """One run that streams `streamed` field by field, then publishes `payload`."""
    source = tui.ListSource([events.register("w"), events.activate("w", "r")])
    for field, text in streamed.items():
        for i in range(0, len(text), 7):
            source.push(events.token("w", "r", field, text[i : i + 7]))
    source.push(*publish(events, payload))
    source.end(0)
    return FlockApp(source)


def table_rows(pane) -> list[str]:
    lines = pane.plain_lines()
    start = next(i for i, line in enumerate(lines) if line.startswith("published Report"))
    return lines[start:]


def drawn_rows(pane) -> list:
    """The drawn strips of the table (as laid out at the pane's width)."""
    doc = pane.document
    width = pane.text_width
    strips = [doc.strip(y, width, pane.rich_style) for y in range(doc.height)]
    start = next(i for i, s in enumerate(strips) if s.text.startswith("published Report"))
    return strips[start:]


async def test_a_streamed_field_is_previewed_once_and_the_rest_is_shown_in_full(tui, events):
    payload = {
        "title": "A Short Title",
        "body": BODY,
        "notes": "not streamed: " + "detail " * 30,
        "score": 7,
        "tags": ["alpha", "beta", "gamma"],
        "meta": {"source": "desk", "pages": [1, 2, 3]},
    }
    app = finished_app(tui, events, payload, {"title": "A Short Title", "body": BODY})
    async with app.run_test(size=(120, 40)) as pilot:
        await tui.wait_until_ended(app)
        await pilot.pause()
        pane = app.panes["w"]
        text = pane.run_text("r")
        # The body's words appear once (streamed), not again in the table.
        assert text.count("word119") == 1 and text.count("word60") == 1
        rows = drawn_rows(pane)
        body = next(s for s in rows if s.text.startswith("body"))
        assert "word0 word1" in body.text and "…" in body.text
        assert "(120 words, streamed above)" in body.text
        # one line, cut to the pane: the next row is the next field
        assert rows[rows.index(body) + 1].text.startswith("notes")
        assert any(seg.style and seg.style.dim and "word0" in seg.text for seg in body)
        assert len(body.text.rstrip()) <= pane.text_width
        # a short streamed title, and everything that did not stream, is shown in full
        table = "\n".join(s.text for s in rows)
        assert "A Short Title" in table
        assert table.count("detail") == 30
        assert "7" in next(s.text for s in rows if s.text.startswith("score"))
        assert "• alpha" in table and "• gamma" in table
        assert '"source": "desk"' in table
        plain = "\n".join(table_rows(pane))
        assert "body: word0 word1" in plain and "(120 words, streamed above)" in plain


async def test_a_narrow_pane_keeps_the_preview_on_one_line(tui, events):
    payload = {"body": BODY, "confidence": 0.5}
    app = finished_app(tui, events, payload, {"body": BODY})
    async with app.run_test(size=(40, 30)) as pilot:
        await tui.wait_until_ended(app)
        await pilot.pause()
        rows = drawn_rows(app.panes["w"])
        assert [s.text.split()[0] for s in rows[1:]] == ["body", "confidence"]
        assert "…" in rows[1].text


async def test_a_field_that_streamed_other_text_is_shown_in_full(tui, events):
    payload = {"body": BODY}
    app = finished_app(tui, events, payload, {"body": "a draft that was replaced " * 8})
    async with app.run_test(size=(120, 40)) as pilot:
        await tui.wait_until_ended(app)
        await pilot.pause()
        assert app.panes["w"].run_text("r").count("word119") == 1  # in the table, in full


def test_streamed_fields_compares_words_not_spacing():
    started = datetime(2026, 11, 25, tzinfo=UTC)
    run = RunModel(run_id="r", agent="w", iteration=1, trigger_types=[], started=started)
    for name, text in {"a": "one  two\nthree", "b": "x", "c": "partial"}.items():
        part = FieldText(name)
        part.append(text)
        run.fields[name] = part
    payload = {"a": "one two three", "b": "y", "c": 3, "d": "never streamed"}
    assert streamed_fields(run, payload) == {"a"}


def test_preview_fits_the_width_and_says_how_long_the_text_was():
    text = "Anyone who spends time with electric buses soon notices " + "more " * 80
    for width in (12, 20, 24, 40, 80):
        shown = preview(text, width)
        assert len(shown) <= width, (width, shown)
        assert shown.startswith("Anyone")
    assert preview(text, 80).endswith("… (89 words, streamed above)")
    assert preview(text, 40).endswith("… (89 words above)")
    assert preview("x" * 500, 30).startswith("xxx")


def test_lists_and_dicts_stay_readable():
    steps = [{"name": "collect data", "owner": "ops"}, {"name": "write", "owner": "desk"}]
    assert value_text(steps) == (
        '• {"name": "collect data", "owner": "ops"}\n• {"name": "write", "owner": "desk"}'
    )
    assert value_text([]) == "(none)" and value_text([1, 2]) == "• 1\n• 2"
    assert value_text({"k": 1}) == '{"k": 1}'
    author = {"name": "Ada Lovelace", "bio": "wrote the first program " * 3, "age": 36}
    assert value_text(author).split("\n") == [
        "name: Ada Lovelace",
        f"bio: {author['bio']}",
        "age: 36",
    ]
    assert value_text("x" * 5000).endswith("… (+4000 chars)")
    assert value_text("\x1b[31mred\x1b[0m") == "red"
