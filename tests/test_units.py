"""One way to write a size for a person (droidtrack/model/units.py), and every human surface using
it: no `118.2M`, no bare `0`, no raw byte counts in prose; JSON keeps integer bytes."""
from __future__ import annotations

import json
import re

import pytest

import dtfactory as f
from dtfactory import MiB
from droidtrack.history.compare import leak_suspects
from droidtrack.model.account import account
from droidtrack.model.schema import dumps
from droidtrack.model.units import human_size
from droidtrack.present.table import render as render_table
from droidtrack.tui.text import fmt_bytes, fmt_delta

KiB, GiB = 1 << 10, 1 << 30


@pytest.mark.parametrize("n, full, compact", [
    (0, "0 B", "0B"), (1, "1 B", "1B"), (1023, "1023 B", "1023B"), (1024, "1.0 KiB", "1.0KiB"),
    (1536, "1.5 KiB", "1.5KiB"), (123_940_454, "118.2 MiB", "118MiB"), (12 * MiB + MiB // 2, "12.5 MiB", "12.5MiB"),
    (99.94 * MiB, "99.9 MiB", "99.9MiB"), (99.96 * MiB, "100.0 MiB", "100MiB"),
    # where rounding would print 1024 of a unit, the next unit is used
    (MiB - 1, "1.0 MiB", "1.0MiB"), (int(1023.97 * MiB), "1.0 GiB", "1.0GiB"), (int(1023.4 * MiB), "1023.4 MiB", "1023MiB"),
    (3 * GiB, "3.0 GiB", "3.0GiB"), (5 << 40, "5.0 TiB", "5.0TiB"),
])
def test_iec_units_one_decimal_and_a_compact_form_for_columns(n, full, compact):
    assert human_size(n) == full
    assert human_size(n, compact=True) == compact
    assert len(human_size(n, compact=True)) <= 7


def test_signs_floats_and_unknown():
    assert human_size(-2048) == "-2.0 KiB" and human_size(-2048, signed=True) == "-2.0 KiB"
    assert human_size(2048, signed=True) == "+2.0 KiB" and human_size(0, signed=True) == "0 B"
    assert human_size(7372706.4) == "7.0 MiB" and human_size(511.7) == "511 B"
    assert human_size(None) == "-" and human_size(None, none="?") == "?"
    # the TUI's cells are the compact form of the same function
    assert fmt_bytes(0) == "0B" and fmt_bytes(None) == "?" and fmt_bytes(3 * MiB) == human_size(3 * MiB, compact=True)
    assert fmt_delta(2 * MiB) == "+2.0MiB" and fmt_delta(0) == "·" and fmt_delta(None) == ""
    assert max(len(human_size(n, signed=True, compact=True)) for n in range(0, 1 << 41, 7_777_777_777)) <= 8


_OLD_STYLE = re.compile(r"\b\d+(\.\d)?[KMGT]\b|\b\d+(\.\d)?[KMGT]?B\b(?! )|\d{5,} bytes")


def test_reconciliation_notes_give_sizes_not_byte_counts_and_json_keeps_bytes():
    s = f.snap(f.base_buffers())
    total = sum(b.size for b in s.buffers.values())
    s.reported["bufinfo.total"] = total + 837_340_160
    s.reported["sysfs.total"] = total - 3 * MiB
    acc = account(s)
    notes = {r.label: r.note for r in acc.reconciliation}
    assert notes["bufinfo.total"].endswith("(+798.5 MiB vs droidtrack's unique total)")
    assert notes["sysfs.total"].endswith("(-3.0 MiB vs droidtrack's unique total)")
    text = render_table(s, acc)
    assert "+798.5 MiB vs droidtrack's unique total" in text and not _OLD_STYLE.search(text), text
    doc = json.loads(dumps(s))
    recon = {r["label"]: r["bytes"] for r in doc["reconciliation"]}
    assert recon["bufinfo.total"] == total + 837_340_160          # machine-readable: exact integer bytes


def test_leak_growth_detail_writes_sizes_and_a_slope_per_second():
    g = next(s for s in leak_suspects(f.leaking_series(6)) if s.kind == "growth")
    assert re.search(r"\d+\.\d MiB -> \d+\.\d MiB, slope 409\.6 KiB/s$", g.detail), g.detail
    assert "bytes" not in g.detail
    assert g.slope == pytest.approx(2 * MiB / 5)                    # the number itself stays in bytes/s
