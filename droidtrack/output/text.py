"""Small text helpers every presenter shares: sizes for humans, device strings made harmless."""
from __future__ import annotations

import re

_CTRL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def safe(s: str | None) -> str:
    """A device-controlled string for a terminal: control characters (ESC, CR, newlines, C1) become
    visible escapes, so a process or buffer name can neither style nor move the cursor."""
    if not s:
        return ""
    return _CTRL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)


def human(n: int | None, signed: bool = False) -> str:
    """4096 -> '4.0K', 1536000 -> '1.5M' (binary units, like `ls -h`)."""
    if n is None:
        return "-"
    sign = ""
    if signed and n > 0:
        sign = "+"
    if n < 0:
        sign, n = "-", -n
    for unit in ("B", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            return f"{sign}{n}{unit}" if unit == "B" else f"{sign}{n:.1f}{unit}"
        n /= 1024
    return f"{sign}{n}"
