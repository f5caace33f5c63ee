"""present/outfile: an output is never one of the inputs and never left half-written; the commands
that write files (snapshot -o / --save-capture, report -o, diff -o) go through it."""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from droidtrack import cli
from droidtrack.present import outfile

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "a13-5.15"


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cap") / "phone.dtc"
    assert cli.main(["snapshot", "--root", str(FIXTURE), "--save-capture", str(p), "-o", os.devnull]) == 0
    return p


# ---- the module ----------------------------------------------------------------------------
def test_refuses_the_same_file_by_inode(tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("input")
    link = tmp_path / "link.txt"
    os.link(a, link)
    sym = tmp_path / "sym.txt"
    sym.symlink_to(a)
    for out in (a, link, sym, tmp_path / "." / "a.txt"):
        with pytest.raises(outfile.OutputError, match="one of this command's inputs") as e:
            outfile.write_text(out, "x", inputs=[str(a)])
        assert e.value.exit_code == 2
    assert a.read_text() == "input"
    outfile.write_text(tmp_path / "b.txt", "fine", inputs=[str(a), None, "-"])
    assert (tmp_path / "b.txt").read_text() == "fine"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "out.json"
    out.write_text("old")
    os.chmod(out, 0o640)
    with pytest.raises(RuntimeError):
        with outfile.open_output(out) as f:
            f.write("half of the new")
            raise RuntimeError("disk full")
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    outfile.write_text(out, "new")
    assert out.read_text() == "new" and (out.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_append_and_symlinks_and_an_unwritable_directory(tmp_path):
    out = tmp_path / "summary.md"
    out.write_text("step 1\n")
    with outfile.open_output(out, "a") as f:
        f.write("step 2\n")
    assert out.read_text() == "step 1\nstep 2\n"
    real = tmp_path / "real.txt"
    real.write_text("r")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    outfile.write_text(link, "through")
    assert link.is_symlink() and real.read_text() == "through"
    with pytest.raises(outfile.OutputError, match="cannot write"):
        outfile.write_text(tmp_path / "no" / "such" / "dir.txt", "x")


def test_two_outputs_onto_one_file_are_refused(tmp_path):
    with pytest.raises(outfile.OutputError, match="same file"):
        outfile.refuse_collisions([("output", str(tmp_path / "x")), ("capture to save", str(tmp_path / "x"))])


# ---- the commands --------------------------------------------------------------------------
def test_snapshot_output_onto_its_capture_is_refused(capture, tmp_path, capsys):
    before = capture.read_bytes()
    for argv in (["-o", str(capture)], ["--save-capture", str(capture)], ["--format", "json", "-o", str(capture)]):
        assert cli.main(["snapshot", "--capture", str(capture), *argv]) == 2
        assert "one of this command's inputs" in capsys.readouterr().err
        assert capture.read_bytes() == before
    rules = tmp_path / "rules.yaml"
    text = (Path(__file__).resolve().parent.parent / "droidtrack" / "model" / "rules.yaml").read_text()
    rules.write_text(text)
    assert cli.main(["snapshot", "--capture", str(capture), "--rules", str(rules), "-o", str(rules)]) == 2
    assert rules.read_text() == text
    out = tmp_path / "snap.json"
    assert cli.main(["snapshot", "--capture", str(capture), "--format", "json", "-o", str(out)]) == 0
    assert out.read_text().startswith("{")


def test_report_output_onto_its_input_is_refused(capture, tmp_path, capsys):
    before = capture.read_bytes()
    assert cli.main(["report", "--capture", str(capture), "-o", str(capture)]) == 2
    assert "one of this command's inputs" in capsys.readouterr().err
    assert capture.read_bytes() == before
    out = tmp_path / "r.zip"
    assert cli.main(["report", "--capture", str(capture), "-o", str(out)]) == 0
    assert zipfile.ZipFile(out).namelist()[0] == "report.html"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.zip"]     # no temporary left


def test_diff_output_onto_an_input_is_refused(capture, tmp_path, capsys):
    a = tmp_path / "a.json"
    assert cli.main(["snapshot", "--capture", str(capture), "--format", "json", "-o", str(a)]) == 0
    before = a.read_bytes()
    assert cli.main(["diff", str(a), str(capture), "-o", str(a)]) == 2
    assert "one of this command's inputs" in capsys.readouterr().err
    assert a.read_bytes() == before


def test_report_default_name_caps_a_hostile_model(tmp_path, monkeypatch, capsys):
    """A 300-character ro.product.model made the default report file name too long (issue 12 #10)."""
    import shutil
    root = tmp_path / "root"
    shutil.copytree(FIXTURE, root, symlinks=True)
    prop = root / "system" / "build.prop"
    prop.write_text(prop.read_text().replace("ro.product.model=Fixture Phone (a13-5.15)",
                                             "ro.product.model=" + "M" * 300))
    work = tmp_path / "out"
    work.mkdir()
    monkeypatch.chdir(work)
    assert cli.main(["report", "--root", str(root)]) == 0
    (made,) = list(work.iterdir())
    assert made.name.startswith("droidtrack-report-MMM") and len(made.name) <= 100


def test_check_outputs_onto_an_input_are_refused(capture, tmp_path, capsys):
    """check --json/--junit/--markdown onto the budget file or the capture destroyed it (issue 12 #4)."""
    budget = tmp_path / "b.yaml"
    budget.write_text("version: 1\ntotal: 1GiB\n")
    for opt, victim in (("--json", budget), ("--junit", capture), ("--markdown", budget)):
        before = victim.read_bytes()
        assert cli.main(["check", "--budget", str(budget), "--capture", str(capture), opt, str(victim)]) == 2
        assert "one of this command's inputs" in capsys.readouterr().err
        assert victim.read_bytes() == before
    out = tmp_path / "c.json"
    assert cli.main(["check", "--budget", str(budget), "--capture", str(capture), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["schema"] == "droidtrack.check/1"
