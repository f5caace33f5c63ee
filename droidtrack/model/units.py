"""Sizes for people: the one way droidtrack writes a byte count where a person reads it.

Every human surface (the snapshot table, `diff`, `record`, `analyze`, the TUI, `check` and its
JUnit/Markdown, the HTML report and summary.md, the reconciliation notes, leak suspects) calls
`human_size()`. Machine-readable output (JSON, CSV, Prometheus, traces) keeps integer bytes and never
comes here. It lives in model/ because the model's own notes (reconciliation, leak details) are
written with it, and every later stage may import model/.

The style is IEC binary units: `0 B`, `512 B`, `4.0 KiB`, `118.2 MiB`, `1.5 GiB` (1 KiB = 1024
bytes, as the kernel and Android mean by "kB"). One decimal from KiB up; the unit steps up where
the number would otherwise print as 1024.0.
"""
from __future__ import annotations

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_size(n: int | float | None, *, signed: bool = False, compact: bool = False, none: str = "-") -> str:
    """Bytes for a person: 0 -> '0 B', 4096 -> '4.0 KiB', 123_940_454 -> '118.2 MiB'.

    signed: a growth shows '+' (a negative count always shows '-'); zero has no sign.
    compact: the same units for narrow table columns (the TUI): no space before the unit and no
    decimal from 100 up, so a size is at most 7 characters (8 with a sign): '0B', '512B',
    '12.3MiB', '118MiB', '1.5GiB'.
    none: what an unknown size (None) shows.
    """
    if n is None:
        return none
    sign = "-" if n < 0 else ("+" if signed and n > 0 else "")
    v = float(abs(n))
    sep = "" if compact else " "
    if v < 1024:
        return f"{sign}{int(v)}{sep}B"
    i = 0
    while True:
        v /= 1024
        i += 1
        digits = 0 if compact and v >= 99.95 else 1
        text = f"{v:.{digits}f}"
        if float(text) < 1024 or i == len(_UNITS) - 1:
            return f"{sign}{text}{sep}{_UNITS[i]}"
