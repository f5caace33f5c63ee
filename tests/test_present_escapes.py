"""Device strings in what CI and spreadsheets read: the CSV export never hands a spreadsheet a
formula, and JUnit / check Markdown show a bidi override as an escape, not raw (issue 12 #3, #10)."""
from __future__ import annotations

import csv
import io

import dtfactory as f
from dtfactory import MiB
from droidtrack.ci.budget_file import parse_budgets
from droidtrack.ci.budgets import evaluate
from droidtrack.model import Process
from droidtrack.present import check_markdown, csv_out, junit

FORMULAS = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def named(names):
    procs = {1000 + i: Process(1000 + i, n[:15], (n,), uid=10000 + i, fds_readable=True, maps_readable=True)
             for i, n in enumerate(names)}
    bufs = [f.buf(200 + i, MiB, exporter=n, holders={1000 + i: f.fd(3)}) for i, n in enumerate(names)]
    return f.snap(bufs, procs=procs)


def test_csv_cells_that_start_like_a_formula_get_a_leading_quote():
    rows = list(csv.reader(io.StringIO(csv_out.dumps([named(FORMULAS + ["plain"])]))))
    keys = [r[3] for r in rows[1:] if r[2] in ("process", "exporter")]
    assert keys and all(not k.startswith(("=", "+", "-", "@", "\t", "\r")) for k in keys)
    assert "'=HYPERLINK(\"http://evil\",\"x\")" in keys and "'+1+1" in keys and "'@SUM(A1)" in keys
    assert "'\\tx" in keys and "plain" in keys          # tab and CR are escaped too, and quoted


def test_bidi_override_is_escaped_in_junit_and_markdown():
    evil = "com.ex\u202eppa.moc"
    snap = named([evil])
    rep = evaluate(parse_budgets("version: 1\nprocesses: {\"*\": {max: 1, each: true}}\n"), [snap])
    assert rep.exit_code == 1
    xml = junit.dumps([rep])
    md = check_markdown.render([rep])
    for text in (xml, md):
        assert "\u202e" not in text
    assert "\\u202e" in xml and "\\\\u202e" in md        # Markdown escapes the backslash itself
