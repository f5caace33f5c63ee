"""Small text helpers every presenter shares: device strings made harmless (sizes for people are
`droidtrack.model.units.human_size`)."""
from __future__ import annotations

import unicodedata

_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _visible_char(c: str) -> str:
    o = ord(c)
    if o < 0x20 or 0x7F <= o < 0xA0:
        return _NAMED.get(c) or f"\\x{o:02x}"
    if unicodedata.category(c) in ("Cf", "Zl", "Zp", "Co", "Cs", "Cn"):
        return f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}"
    return c


def safe(s: object) -> str:
    """A device-controlled string made visible, for every presenter (terminal, TUI, CSV, HTML,
    Markdown): C0/C1 controls and DEL (ESC, CR, newlines, tabs) and the invisible characters that
    can reorder or hide text (bidi overrides, zero-width joiners, line/paragraph separators,
    private-use and unassigned code points) become escapes (`\\n`, `\\x1b`, `\\u202e`), so a
    process or buffer name is one line, can neither style nor move the cursor, and shows what it
    really holds. A backslash stays as it is: this is for display, not a reversible encoding."""
    if s is None:
        return ""
    s = s if isinstance(s, str) else str(s)
    if s.isprintable():
        return s
    return "".join(_visible_char(c) if not c.isprintable() or c in "\u2028\u2029" else c for c in s)
