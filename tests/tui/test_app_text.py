"""Sanitising untrusted text and wrapping it into lines."""

from __future__ import annotations

import pytest
from rich.text import Text

from flock_tui.text import one_line, safe_text, sanitize
from flock_tui.widgets.document import Document, TextBlock, wrap


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[red]x[/red]", "[red]x[/red]"),
        ("[link=http://e]y[/link]", "[link=http://e]y[/link]"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b]8;;http://x\x07link\x1b]8;;\x07", "link"),
        ("\x1b]0;title\x07after", "after"),
        ("\x1b]0;title\x1b\\after", "after"),
        ("\x1bPq#0;2;0;0;0\x1b\\dcs", "dcs"),
        ("a\x07b\x08c\rd\x00e\x7f\x85f", "abcdef"),
        ("8-bit csi \x9b31mred", "8-bit csi red"),
        ("keep\ttabs\nand lines", "keep\ttabs\nand lines"),
        ("\x1b[2J\x1b[Hcleared", "cleared"),
        ("unterminated \x1b]0;evil", "unterminated "),
    ],
)
def test_sanitize_strips_controls_and_keeps_markup_literal(raw, expected):
    assert sanitize(raw) == expected


def test_safe_text_is_never_markup():
    text = safe_text("[red]x[/red] [link=http://e]y[/link]")
    assert isinstance(text, Text)
    assert text.plain == "[red]x[/red] [link=http://e]y[/link]"
    assert text.spans == []


def test_one_line_folds_and_shortens():
    assert one_line("a\nb\tc") == "a b c"
    assert one_line("x" * 50, limit=10) == "x" * 9 + "…"


def test_wrap_breaks_at_spaces_and_hard_breaks_long_words():
    assert wrap("hello world foo", 10) == ["hello ", "world foo"]
    assert wrap("abcdefghij", 4) == ["abcd", "efgh", "ij"]
    assert wrap("", 5) == [""]
    assert wrap("日本語のテキスト", 6) == ["日本語", "のテキ", "スト"]


def test_text_block_incremental_append_equals_wrapping_at_once():
    words = [f"w{i % 13}{'x' * (i % 7)} " for i in range(400)]
    words[50] = "\n"
    words[90] = "a" * 75  # longer than the width
    block = TextBlock()
    block.line_count(20)
    for word in words:
        block.append(word)
    whole = TextBlock()
    whole.line_count(20)
    whole.append("".join(words))
    assert block.visual_lines() == whole.visual_lines()
    assert block.text() == "".join(words)
    # a width change re-wraps from the logical lines
    block.line_count(33)
    assert block.text() == "".join(words)
    assert all(len(line.rstrip(" ")) <= 33 for line in block.visual_lines())


def test_document_trims_old_lines_beyond_its_cap():
    doc = Document(max_lines=100)
    for run in range(5):
        block = doc.group(f"r{run}").add(TextBlock())
        assert isinstance(block, TextBlock)
        block.append("\n".join(f"line {run}.{i}" for i in range(40)))
    height = doc.reflow(80)
    assert height == 100
    assert doc.trimmed == 100
    assert doc.plain_lines()[-1] == "line 4.39"


def test_anchors_survive_a_rewrap():
    doc = Document()
    block = doc.group("g").add(TextBlock())
    assert isinstance(block, TextBlock)
    block.append("\n".join(f"n{i} " + "abc " * (i % 9) for i in range(100)))
    doc.reflow(20)
    for y in (0, 5, 37, doc.height - 1):
        text = doc.plain_lines()[y].split()[0]
        anchor = doc.anchor(y)
        doc.reflow(55)
        assert text in doc.plain_lines()[doc.locate(anchor)]
        doc.reflow(20)
        assert doc.locate(anchor) == y
