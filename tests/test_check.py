"""`droidtrack check`: every exit code, and the JUnit / JSON / Markdown it writes."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

import dtfactory as f
from dtfactory import MiB
from droidtrack.cli import main
from droidtrack.model import Process
from droidtrack.model.schema import dumps
from droidtrack.model.problems import Problem
from droidtrack.history.recording import RecordingWriter
from droidtrack.sources import Collected

BUDGETS = """\
version: 1
min_coverage: 0.9
total: 64MiB
tags: {camera: 8MiB, gl: 32MiB}
exporters: {system: 48MiB}
processes: {"media*": 16MiB}
growth: {total: 4MiB}
leaks: {max_suspects: 0}
"""


def rec(path, snaps):
    with RecordingWriter(str(path)) as w:
        for s in snaps:
            w.add_collected(Collected(s))
    return str(path)


@pytest.fixture
def budget(tmp_path):
    p = tmp_path / "budgets.yaml"
    p.write_text(BUDGETS)
    return str(p)


def test_exit_0_when_everything_holds(tmp_path, budget, capsys):
    steady = [f.snap(f.base_buffers(), t=1000.0 + i) for i in range(4)]
    code = main(["check", "--budget", budget, "--replay", rec(tmp_path / "r.dtr", steady)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "=> within budget" in out and "4 samples" in out


def test_exit_1_with_junit_json_and_markdown(tmp_path, budget, capsys):
    r = rec(tmp_path / "r.dtr", f.leaking_series(6))
    j, js, md = tmp_path / "j.xml", tmp_path / "c.json", tmp_path / "s.md"
    code = main(["check", "-b", budget, "--replay", r, "--junit", str(j), "--json", str(js), "--markdown", str(md)])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL    tag camera" in out and "3 budget(s) exceeded" in out

    root = ET.parse(j).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    cases = suites[0].findall("testcase")
    names = [c.get("name") for c in cases]
    assert names == ["total", "tag camera", "tag gl", "exporter system", "process media*", "growth total", "leaks"]
    assert suites[0].get("tests") == "7" and suites[0].get("failures") == "3" and root.get("failures") == "3"
    failed = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert set(failed) == {"tag camera", "growth total", "leaks"}
    cam = failed["tag camera"]
    assert cam.get("measured") == str(17 * MiB) and cam.get("allowed") == str(8 * MiB)
    assert f"measured: {17 * MiB} bytes" in cam.text and f"allowed: {8 * MiB} bytes" in cam.text
    assert "budget file line 4" in cam.text
    assert failed["leaks"].get("measured") == "3" and failed["leaks"].get("allowed") == "0"
    props = {p.get("name"): p.get("value") for p in suites[0].iter("property")}
    assert props["coverage"] == "1.0000" and props["samples"] == "6"

    doc = json.loads(js.read_text())
    assert doc["schema"] == "droidtrack.check/1" and doc["exit_code"] == 1
    dev = doc["devices"][0]
    assert len(dev["leak_suspects"]) == 3
    assert {r["budget"]: r["status"] for r in dev["results"]}["tag camera"] == "fail"

    text = md.read_text()
    assert "| tag camera | ❌ **FAIL** | 17.0 MiB | 8.0 MiB |" in text
    assert "<details><summary>leak suspects</summary>" in text


def test_owner_budgets_in_the_table_junit_json_and_markdown(tmp_path, capsys):
    b = tmp_path / "b.yaml"
    b.write_text("version: 1\nowners: {'com.example.*': 10MiB}\ngrowth:\n  owners: {'com.example.*': 4MiB}\n")
    r = rec(tmp_path / "r.dtr", f.leaking_series(6))
    j, js, md = tmp_path / "j.xml", tmp_path / "c.json", tmp_path / "s.md"
    code = main(["check", "-b", str(b), "--replay", r, "--junit", str(j), "--json", str(js), "--markdown", str(md)])
    out = capsys.readouterr().out
    assert code == 1, out
    # the app owns gralloc (4 MiB) and its leaks (2 MiB a sample): 14 MiB at sample 5, 7 MiB more than at 0
    assert "FAIL    owner com.example.*" in out and "charged to 1 owner(s): com.example.camera (sample 5)" in out
    assert "FAIL    growth owner com.example.*" in out
    cases = {c.get("name"): c for c in ET.parse(j).getroot().iter("testcase")}
    assert cases["owner com.example.*"].find("failure").get("measured") == str(14 * MiB)
    assert cases["growth owner com.example.*"].find("failure").get("measured") == str(7 * MiB)
    res = {x["budget"]: x for x in json.loads(js.read_text())["devices"][0]["results"]}
    assert (res["owner com.example.*"]["scope"], res["owner com.example.*"]["target"]) == ("owner", "com.example.*")
    assert res["growth owner com.example.*"]["growth"] is True and res["owner com.example.*"]["line"] == 2
    assert "| owner com.example.\\* | ❌ **FAIL** | 14.0 MiB | 10.0 MiB |" in md.read_text()


def test_exit_2_for_a_budget_file_with_a_typo(tmp_path, capsys):
    p = tmp_path / "b.yaml"
    p.write_text("version: 1\ntags:\n  camera: 8MiB\n  gl: 32 MiBB\n")
    code = main(["check", "-b", str(p), "--replay", rec(tmp_path / "r.dtr", f.leaking_series(2))])
    err = capsys.readouterr().err
    assert code == 2
    assert "b.yaml line 4: 'tags.gl': unknown unit 'MiBB'" in err


def test_exit_2_when_coverage_is_below_min_coverage(tmp_path, budget, capsys):
    procs = {pid: (p if pid != 500 else Process(500, "surfaceflinger", fds_readable=False)) for pid, p in f.PROCS.items()}
    procs[600] = Process(600, "media.codec", fds_readable=False)
    low = [f.snap(f.base_buffers(), procs=procs)]
    j = tmp_path / "j.xml"
    code = main(["check", "-b", budget, "--replay", rec(tmp_path / "r.dtr", low), "--junit", str(j)])
    out = capsys.readouterr().out
    assert code == 2
    assert "coverage 60% is below min_coverage 90%" in out
    suite = ET.parse(j).getroot().find("testsuite")
    err = suite.find("testcase[@name='measurement']/error")
    assert err is not None and err.get("type") == "could-not-measure"
    assert suite.get("errors") == "1"
    # growth and leaks need more than one sample: skipped, not passed
    skipped = [c.get("name") for c in suite.findall("testcase") if c.find("skipped") is not None]
    assert skipped == ["growth total", "leaks"]


def test_exit_2_when_the_collection_was_cut(tmp_path, capsys):
    b = tmp_path / "b.yaml"
    b.write_text("version: 1\ntotal: 1GiB\n")
    cut = f.snap(f.base_buffers(), problems=[Problem("collector", "stream ended before its DONE marker: "
                                                                 "the snapshot may be incomplete")])
    code = main(["check", "-b", str(b), "--replay", rec(tmp_path / "r.dtr", [cut])])
    assert code == 2
    assert "could not measure: the collector stream was cut" in capsys.readouterr().out


def test_exit_2_for_unreadable_inputs(tmp_path, budget, capsys):
    (tmp_path / "empty.dtr").write_bytes(b"")
    assert main(["check", "-b", budget, "--replay", str(tmp_path / "empty.dtr")]) == 2
    assert "no complete sample" in capsys.readouterr().out
    assert main(["check", "-b", str(tmp_path / "nope.yaml"), "--replay", "x"]) == 2
    assert "cannot read budget file" in capsys.readouterr().err
    assert main(["check", "-b", budget, "--baseline", str(tmp_path / "nope.json"),
                 "--replay", str(tmp_path / "empty.dtr")]) == 2
    assert "--baseline: cannot read" in capsys.readouterr().err


def test_exit_2_naming_the_sample_and_line_when_a_recorded_snapshot_is_nested_5000_deep(tmp_path, budget, capsys):
    """A sample that cannot be read was skipped (the budgets "held" over the others); a /2 row
    nested 5,000 deep was "a recording row is not valid JSON", and no readable sample at all an
    IndexError ("internal error")."""
    from droidtrack.history.recording import open_writer
    good = dumps(f.snap(f.base_buffers()), all_processes=True)
    deep = good.replace('"device": {', '"device": {"x": ' + "[" * 5000 + "]" * 5000 + ", ", 1)
    v1 = tmp_path / "r.dtr"
    with RecordingWriter(str(v1)) as w:
        w.add("snapshot", good.encode(), time=1.0)
        w.add("snapshot", deep.encode(), time=2.0)
    assert main(["check", "-b", budget, "--replay", str(v1)]) == 2
    out = capsys.readouterr().out
    line = next(i for i, x in enumerate(good.splitlines(), 1) if '"device": {' in x)
    assert "could not measure: " in out and f"r.dtr: sample 1: line {line}: nested too deeply" in out, out
    v2 = tmp_path / "r.db"
    w = open_writer(str(v2), {"origin": "test"})
    w.add_collected(Collected(f.snap(f.base_buffers())))
    w.close()
    import sqlite3
    con = sqlite3.connect(v2)
    con.execute("UPDATE details SET doc = ? WHERE part = 'device'", ("[" * 5000 + "]" * 5000,))
    con.execute("UPDATE buffers SET doc = '[]'")
    con.commit()
    con.close()
    assert main(["check", "-b", budget, "--replay", str(v2)]) == 2
    out = capsys.readouterr().out
    assert "r.db: sample 0: details row 'device': line 1: nested too deeply" in out, out
    con = sqlite3.connect(v2)
    con.execute("UPDATE details SET doc = '{}' WHERE part = 'device'")
    con.commit()
    con.close()
    assert main(["check", "-b", budget, "--replay", str(v2)]) == 2
    out = capsys.readouterr().out
    assert "r.db: sample 0: buffer row " in out and "is not a JSON object" in out, out


def test_growth_against_a_baseline_snapshot_json(tmp_path, capsys):
    series = f.leaking_series(6)
    (tmp_path / "base.json").write_text(dumps(series[0], all_processes=True))
    b = tmp_path / "b.yaml"
    b.write_text("version: 1\ngrowth: {total: 4MiB, tags: {camera: 11MiB}}\n")
    r = rec(tmp_path / "r.dtr", [series[-1]])
    assert main(["check", "-b", str(b), "--replay", r, "--baseline", str(tmp_path / "base.json")]) == 1
    out = capsys.readouterr().out
    assert "FAIL    growth total" in out and "18.0 MiB -> 28.0 MiB" in out
    # a recording as the baseline: its sample 5 is the same as the measurement: no growth
    r6 = rec(tmp_path / "r6.dtr", series)
    assert main(["check", "-b", str(b), "--replay", r, "--baseline", r6 + "@5"]) == 0


def test_strict_turns_warnings_into_failures(tmp_path, capsys):
    b = tmp_path / "b.yaml"
    b.write_text("version: 1\ntags: {camra: 1GiB}\n")
    r = rec(tmp_path / "r.dtr", [f.snap(f.base_buffers())])
    assert main(["check", "-b", str(b), "--replay", r]) == 0
    assert "warning: line 2: tag 'camra'" in capsys.readouterr().out
    assert main(["check", "-b", str(b), "--replay", r, "--strict"]) == 1


def test_device_strings_cannot_break_the_junit(tmp_path, capsys):
    procs = dict(f.PROCS)
    procs[1234] = Process(1234, "evil\x1b[31m\x00", ("com.evil\x07app",), fds_readable=True)
    s = f.snap(f.base_buffers(), procs=procs, serial="SER\x01<&>")
    b = tmp_path / "b.yaml"
    b.write_text("version: 1\nprocesses: {'com.evil*': 1KiB}\n")
    j = tmp_path / "j.xml"
    assert main(["check", "-b", str(b), "--replay", rec(tmp_path / "r.dtr", [s]), "--junit", str(j)]) == 1
    root = ET.parse(j).getroot()       # parses: no raw control characters in the XML
    assert "\\x01" in root.find("testsuite").get("name")
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out


def test_strict_failures_say_why_in_every_report(tmp_path, capsys):
    """--strict with a warning exited 1 while the table said "within budget", JUnit had
    failures="0" and the JSON said pass."""
    b = tmp_path / "b.yaml"
    b.write_text('version: 1\ntotal: 1GiB\nprocesses: {"nosuch*": 1MiB}\n')
    r = rec(tmp_path / "r.dtr", [f.snap(f.base_buffers())])
    j, js, md = tmp_path / "j.xml", tmp_path / "c.json", tmp_path / "s.md"
    assert main(["check", "-b", str(b), "--replay", r]) == 0
    capsys.readouterr()
    code = main(["check", "-b", str(b), "--replay", r, "--strict", "--junit", str(j), "--json", str(js),
                 "--markdown", str(md)])
    out = capsys.readouterr().out
    assert code == 1
    assert "=> 1 warning(s) under --strict" in out and "within budget" not in out
    suite = ET.parse(j).getroot().find("testsuite")
    assert suite.get("failures") == "1"
    assert suite.find("testcase/failure[@type='strict-warning']") is not None
    dev = json.loads(js.read_text())["devices"][0]
    assert dev["exit_code"] == 1 and dev["strict"] is True and dev["verdict"] == "1 warning(s) under --strict"
    assert "**Failed:** 1 warning\\(s\\) under --strict" in md.read_text()


def test_the_readme_budget_passes_on_one_snapshot(tmp_path, capsys):
    """The README's copy-paste budget has a growth budget; with its own one-snapshot `check` command
    it exited 2 ("growth budgets need --baseline or a recording")."""
    b = tmp_path / "budgets.yaml"
    b.write_text("version: 1\nmin_coverage: 0.9\ntotal: 256MiB\ntags: {camera: 64MiB, gl: 96MiB}\n"
                 "processes: {\"com.example.*\": 80MiB}\ngrowth: {total: 8MiB}\n")
    j = tmp_path / "droidtrack.xml"
    code = main(["check", "--budget", str(b), "--replay", rec(tmp_path / "r.dtr", [f.snap(f.base_buffers())]),
                 "--junit", str(j), "--markdown", ""])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "growth total not checked: growth needs --baseline" in out and "=> within budget" in out
    assert ET.parse(j).getroot().find("testsuite/testcase[@name='growth total']/skipped") is not None


def _doc_budgets():
    """Every budget file the docs show: the README's, docs/ci.md's, `check --help`'s."""
    import re
    from pathlib import Path
    from droidtrack.commands.check import EPILOG
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    ci = (root / "docs" / "ci.md").read_text()
    found = [("README.md", m) for m in re.findall(r"cat > budgets\.yaml <<'YAML'\n(.*?)\nYAML\n", readme, re.S)]
    found += [("docs/ci.md try it", m) for m in re.findall(r"cat > budgets\.yaml <<'EOF'\n(.*?)\nEOF\n", ci, re.S)]
    section = ci.split("## The budget file", 1)[1]
    found.append(("docs/ci.md budget file", section.split("```yaml\n", 1)[1].split("```", 1)[0]))
    found.append(("check --help", "\n".join(x[2:] for x in EPILOG.split("budgets.yaml:\n", 1)[1]
                                              .split("\n(the full", 1)[0].splitlines())))
    return found


@pytest.mark.parametrize("where,text", [pytest.param(w, t, id=w) for w, t in _doc_budgets()])
def test_every_budget_file_the_docs_show_reads_and_measures_the_demo(tmp_path, capsys, where, text):
    assert "owners:" in text or where == "docs/ci.md try it"
    b = tmp_path / "budgets.yaml"
    b.write_text(text + "\n")
    code = main(["check", "--budget", str(b), "--demo"])
    out = capsys.readouterr().out
    assert code in (0, 1), (where, out)
    assert "owner pattern" not in out, out        # each owner glob names an owner of the demo phone
