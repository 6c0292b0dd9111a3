"""Sanitising untrusted text (LLM output, child stdout) before it reaches the terminal.

Text from an LLM or from user code is never parsed as Rich markup and never allowed to
drive the terminal: ANSI CSI, OSC, DCS (and the other string controls), lone escapes and
every other C0/C1 control character are removed; newlines and tabs are kept.
"""

from __future__ import annotations

import re

from rich.style import Style
from rich.text import Text

# ESC [ ... final byte (CSI), ESC ] ... BEL or ESC \ (OSC), ESC P/X/^/_ ... ST (DCS, SOS,
# PM, APC), the 8-bit forms (0x9b CSI, 0x9d OSC, 0x90/0x98/0x9e/0x9f strings) and two-byte
# escapes such as ESC c or ESC ( B. An unterminated string sequence runs to the end.
_ESCAPES = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?             # CSI
    | (?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])     # OSC, DCS, SOS, PM, APC ...
      [^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?       # ... up to BEL or ST
    | \x1b[ -/]*[0-~]?                             # other escapes (ESC c, ESC ( B, ...)
    """,
    re.VERBOSE,
)
# C0 controls except \t and \n, DEL, and C1 controls (\r is dropped too: it would move the
# cursor; a \r\n line end becomes \n).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NEEDS_WORK = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def sanitize(text: str) -> str:
    """`text` without terminal escape sequences or control characters (keeps \\n, \\t)."""
    if not _NEEDS_WORK.search(text):
        return text
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def safe_text(text: str, style: str | Style = "") -> Text:
    """A rich Text holding `text` literally (never markup), sanitised, in one style."""
    return Text(sanitize(text), style=style, end="")


def one_line(text: str, limit: int = 200) -> str:
    """Sanitised text folded onto one line and shortened to `limit` characters."""
    flat = " ".join(sanitize(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def count(n: int, noun: str) -> str:
    """'1 warning', '2 warnings'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
