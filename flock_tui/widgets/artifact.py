"""A published artifact drawn as a table: one row per field, key column and value column.

A field whose text the pane already streamed in the same run is not repeated in full:
its row shows a one-line dim preview (the first words, cut to the value column, then
"… (84 words, streamed above)"). Every other value (numbers, lists, nested models, text
that never streamed) is shown in full, up to TABLE_VALUE_LIMIT characters.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.style import Style
from rich.table import Table
from rich.text import Text

from flock_tui.runmodel import ArtifactRecord, RunModel
from flock_tui.text import sanitize

TABLE_VALUE_LIMIT = 1_000
"""Characters of one value shown in the table (the rest is counted, not drawn)."""
COMPACT_DICT = 60
"""A dict value longer than this as JSON is shown as `key: value` lines."""
KEY_WIDTH = 24
"""The key column is at most this wide (longer keys are cut)."""
PREVIEW = Style(dim=True)
SHORT_TEXT = 100
"""A streamed value of one line up to this many characters (a title) is shown whole."""
PLAIN_PREVIEW_WIDTH = 72
"""Preview width in the plain-text form of the table (copying, tests)."""
_MIN_PREVIEW_CELLS = 20
"""Cells a preview keeps for its words before the suffix is shortened or dropped."""


def streamed_fields(run: RunModel, payload: Mapping[str, Any]) -> frozenset[str]:
    """The str fields of `payload` whose text the run streamed (same words, any spacing)."""
    names: set[str] = set()
    for key, value in payload.items():
        part = run.fields.get(key)
        if not isinstance(value, str) or part is None or not part.length:
            continue
        if part.text.split() == sanitize(value).split():
            names.add(key)
    return frozenset(names)


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def value_text(value: Any) -> str:
    """A value as readable text: a list as bullets (one item a line), a long dict as
    `key: value` lines, anything else as compact JSON."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, list):
        text = "\n".join(f"• {_compact(item)}" for item in value) or "(none)"
    elif isinstance(value, dict):
        text = _compact(value)
        if len(text) > COMPACT_DICT and value:
            text = "\n".join(f"{key}: {_compact(item)}" for key, item in value.items())
    else:
        text = _compact(value)
    text = sanitize(text)
    if len(text) > TABLE_VALUE_LIMIT:
        text = text[:TABLE_VALUE_LIMIT] + f"… (+{len(text) - TABLE_VALUE_LIMIT} chars)"
    return text


def preview(text: str, width: int) -> str:
    """The first words of `text` on one line of at most `width` cells, with a suffix
    saying how long the text is and that it streamed above."""
    words = text.split()
    width = max(1, width)
    count = len(words)
    suffixes = (f" ({count} words, streamed above)", f" ({count} words above)", " ↑", "")
    suffix = ""
    for suffix in suffixes:
        if width - cell_len(suffix) >= _MIN_PREVIEW_CELLS:
            break
    room = width - cell_len(suffix)
    joined = " ".join(words)
    if cell_len(joined) <= room:
        return joined + suffix
    head = ""
    for word in words:
        candidate = f"{head} {word}" if head else word
        if cell_len(candidate) > room - 1:
            break
        head = candidate
    if not head:  # one long first word: cut inside it
        head = set_cell_size(words[0], room - 1).rstrip() if words else ""
    return head.rstrip(",;:.-–— ") + "…" + suffix


def _long(text: str) -> bool:
    """Too long to repeat in the table after it streamed (more than a title)."""
    return "\n" in text or len(text) > SHORT_TEXT


def _key_width(record: ArtifactRecord) -> int:
    keys = [cell_len(sanitize(str(key))) for key in record.payload] or [len("(empty)")]
    return min(KEY_WIDTH, max(keys))


def artifact_table(record: ArtifactRecord, streamed: Collection[str], width: int) -> Table:
    """The table for `record` drawn `width` cells wide (previews are cut to fit)."""
    table = Table(
        title=Text(f"published {sanitize(record.artifact_type)}", style="bold green"),
        title_justify="left",
        show_header=False,
        expand=True,
        box=None,
        padding=(0, 1, 0, 0),
    )
    table.add_column("field", style="bold", no_wrap=True, max_width=KEY_WIDTH)
    table.add_column("value", ratio=1)
    # Each cell has one cell of right padding: key, pad, value, pad.
    value_width = max(8, width - _key_width(record) - 2)
    for key, value in record.payload.items():
        if key in streamed and isinstance(value, str):
            text = sanitize(value).strip()
            if _long(text) and cell_len(text) > value_width:
                shown = Text(
                    preview(text, value_width), style=PREVIEW, no_wrap=True, overflow="ellipsis"
                )
            else:
                shown = Text(text)  # a title: the table reads better with it whole
        else:
            shown = Text(value_text(value))
        table.add_row(Text(sanitize(str(key))), shown)
    if not record.payload:
        table.add_row(Text("(empty)", style="dim"), Text(""))
    return table


def table_plain(record: ArtifactRecord, streamed: Collection[str]) -> str:
    """The table as plain text, one `key: value` row per field (previews as drawn)."""
    rows = [f"published {sanitize(record.artifact_type)}"]
    for key, value in record.payload.items():
        if key in streamed and isinstance(value, str):
            text = sanitize(value).strip()
            if _long(text) and cell_len(text) > PLAIN_PREVIEW_WIDTH:
                text = preview(text, PLAIN_PREVIEW_WIDTH)
        else:
            text = value_text(value)
        rows.append(f"{sanitize(str(key))}: {text}")
    return "\n".join(rows)
