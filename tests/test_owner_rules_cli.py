"""--owner-rules FILE on every command that builds or reads snapshots: merged over the built-in
owner rules, carried with the tag rules wherever they go, and a bad file is exit 2 naming the file,
line and key."""
from __future__ import annotations

import json

import pytest

from droidtrack.cli import main
from droidtrack.model.owners import OVERRIDE, SERVICE, load_owner_rules

FIXTURE = "fixtures/a13-5.15"
# the fixture's camera buffers are named CAMERA and held only by the camera provider and cameraserver
OVERRIDE_YAML = "version: 1\n\noverrides:\n  - {name: CAMERA, owner: com.android.camera2}\n"
BAD_YAML = "version: 1\nroles:\n  - {process: surfaceflinger, role: service}\n  - {proces: x, role: app}\n"


@pytest.fixture
def good(tmp_path):
    return _write(tmp_path / "mine.yaml", OVERRIDE_YAML)


@pytest.fixture
def bad(tmp_path):
    return _write(tmp_path / "typo.yaml", BAD_YAML)


def _write(path, text):
    path.write_text(text)
    return str(path)


def _json(capsys, argv):
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _camera_owners(doc):
    return {(b["owner"]["package"], b["owner"]["rule"]) for b in doc["buffers"] if b.get("name") == "CAMERA"}


def test_snapshot_applies_the_users_override_and_says_which_line(capsys, good):
    before = _camera_owners(_json(capsys, ["snapshot", "--root", FIXTURE, "--format", "json"]))
    assert (None, SERVICE) in before
    doc = _json(capsys, ["snapshot", "--root", FIXTURE, "--format", "json", "--owner-rules", good])
    assert _camera_owners(doc) == {("com.android.camera2", OVERRIDE)}
    ev = {b["owner"]["evidence"] for b in doc["buffers"] if b.get("name") == "CAMERA"}
    assert ev == {f"{good} line 4: name: CAMERA, owner: com.android.camera2"}
    camera2 = next(p for p in doc["processes"] if p["cmdline"][:1] == ["com.android.camera2"])
    assert camera2["charged"] > 0 and sum(p["charged"] for p in doc["processes"]) + \
        doc["totals"]["kernel_only"] + doc["totals"].get("owner_gone", 0) + \
        doc["totals"].get("unattributed", 0) == doc["totals"]["bytes"]


def test_a_users_rules_are_merged_over_the_built_in_ones(good):
    mine, builtin = load_owner_rules(good), load_owner_rules()
    assert mine.roles == builtin.roles          # the file names no roles: the built-in ones still apply
    assert len(mine.overrides) == len(builtin.overrides) + 1
    assert mine.overrides[0][0].origin == good


@pytest.mark.parametrize("argv", [
    ["snapshot", "--root", FIXTURE],
    ["check", "--root", FIXTURE, "--budget", "BUDGET"],
    ["record", "OUT", "-n", "1", "--root", FIXTURE],
    ["report", "--root", FIXTURE, "-o", "OUT"],
    ["diff", "DOC", "DOC"],
    ["export", "REC", "--csv", "OUT"],
    ["analyze", "PASTE"],
    ["serve"],
], ids=lambda a: a[0])
def test_a_typo_in_the_owner_rules_is_exit_2_naming_file_line_and_key(capsys, tmp_path, bad, argv):
    budget = tmp_path / "b.yaml"
    budget.write_text("version: 1\ntotal: 1GiB\n")
    doc = tmp_path / "s.json"
    assert main(["snapshot", "--root", FIXTURE, "--format", "json", "-o", str(doc)]) == 0
    rec = tmp_path / "r.dtr"
    assert main(["record", str(rec), "-n", "1", "--root", FIXTURE]) == 0
    paste = tmp_path / "paste.txt"
    paste.write_text("")
    subst = {"BUDGET": str(budget), "OUT": str(tmp_path / "out.x"), "DOC": str(doc), "REC": str(rec),
             "PASTE": str(paste)}
    capsys.readouterr()
    rc = main([subst.get(a, a) for a in argv] + ["--owner-rules", bad])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert bad in err and "line 4" in err and "proces" in err, err
    assert not (tmp_path / "out.x").exists()


def test_top_reads_the_owner_rules_before_it_opens_its_source(bad):
    # (top refuses to start without a terminal before it reads anything; show() is what it runs then)
    from droidtrack.cli import build_parser
    from droidtrack.commands.top import show
    from droidtrack.model.owners import OwnerRulesError
    args = build_parser().parse_args(["top", "--root", FIXTURE, "--owner-rules", bad])
    with pytest.raises(OwnerRulesError, match="line 4.*proces"):
        show(args)


def test_diff_of_two_documents_decides_owners_again_with_the_users_rules(capsys, tmp_path, good):
    doc = tmp_path / "s.json"
    assert main(["snapshot", "--root", FIXTURE, "--format", "json", "-o", str(doc)]) == 0
    plain = _json(capsys, ["diff", str(doc), str(doc), "--format", "json"])
    mine = _json(capsys, ["diff", str(doc), str(doc), "--format", "json", "--owner-rules", good])
    assert all(c["delta"] == 0 for c in plain["by_owner"] + mine["by_owner"])    # same rules both sides
    cam = [x["com.android.camera2"] for x in ({c["key"]: c["after"] for c in d["by_owner"]} for d in (plain, mine))]
    assert cam[1] > cam[0]        # the override moved the CAMERA buffers to the camera app
    from droidtrack.history.compare import load_snapshot
    from droidtrack.model.tags import load_rules
    from dataclasses import replace
    snap = load_snapshot(str(doc), replace(load_rules(), owners=load_owner_rules(good)))
    assert {o.rule for k, o in snap.owners.items() if snap.buffers[k].name == "CAMERA"} == {OVERRIDE}
