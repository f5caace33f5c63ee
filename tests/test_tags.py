"""Tag rules: first match wins, every buffer gets one tag and the rule's id, typos are named."""
from __future__ import annotations

import pytest

from droidtrack.model.tags import RulesError, load_rules, parse_rules

R = load_rules()


@pytest.mark.parametrize("exporter,name,holders,packages,held,tag,rule", [
    ("system", "CAMERA", [], [], True, "camera", "camera-by-name"),
    ("qcom,system", None, ["surfaceflinger", "com.google.android.GoogleCamera"],
     ["com.google.android.googlecamera"], True, "camera", "camera-by-holder"),
    ("system", None, ["media.swcodec"], [], True, "multimedia", "multimedia-by-holder"),
    ("qcom,secure-pixel", None, ["surfaceflinger"], [], True, "multimedia", "multimedia-secure-heap"),
    ("system", None, ["surfaceflinger", "com.android.launcher3"], ["com.android.launcher3"], True,
     "graphics", "graphics-app-surface"),
    ("system", None, ["surfaceflinger", "composer@2.4-se"], [], True, "display", "display-by-holder"),
    ("system", None, ["allocator@4.0-s"], [], True, "graphics", "graphics-by-holder"),
    ("mali", None, [], [], False, "gl", "gl-by-exporter"),
    ("system", "", [], [], False, "other", "default"),
    ("system", "G:screenshot", [], [], True, "display", "display-by-name"),
])
def test_default_rules(exporter, name, holders, packages, held, tag, rule):
    assert R.tag_of(exporter, name, holders, packages, held) == (tag, rule)


def test_first_match_wins_and_all_keys_must_hold():
    r = parse_rules("""
version: 1
rules:
  - {id: a, tag: camera, match: {exporter: "ion", name: ["cam*"]}}
  - {id: b, tag: gl, match: {exporter: ion}}
""", "t")
    assert r.tag_of("ion", "cam0", [], [], True) == ("camera", "a")
    assert r.tag_of("ion", "other", [], [], True) == ("gl", "b")
    assert r.tag_of("system", "cam0", [], [], True) == ("other", "default")


def test_patterns_are_globs_not_regexes_and_names_are_literal():
    r = parse_rules("version: 1\nrules:\n  - {tag: gl, match: {name: '[bold]*'}}\n", "t")
    # '[bold]' is a glob character class: matches 'b', not the literal markup
    assert r.tag_of("x", "bx", [], [], True)[0] == "gl"
    assert r.tag_of("x", "\x1b[31mred", [], [], True)[0] == "other"


@pytest.mark.parametrize("text,needle", [
    ("rules: [", "not valid YAML"),
    ("version: 2\nrules: []", "version 2"),
    ("version: 1\nrules:\n  - {tag: gl, macth: {name: x}}", "unknown key(s) macth"),
    ("version: 1\nrules:\n  - {tag: gl, match: {nmae: x}}", "unknown match key 'nmae'"),
    ("version: 1\nrules:\n  - {tag: gl, match: {held: maybe}}", "'held' must be true or false"),
    ("version: 1\nrules:\n  - {match: {name: x}}", "'tag' must be"),
    ("just text", "expected a mapping"),
    ("rules:\n  - {tag: !custom gl, match: {name: x}}", "line 2: unknown tag '!custom'"),
    ("rules: " + "[" * 5000 + "]" * 5000, "line 1: nested too deeply"),
    ("x: &a [" + ", ".join(["y"] * 400) + "]\nz: &b [" + ", ".join(["*a"] * 400) + "]\n"
     "rules:\n  - {tag: *b, match: {name: x}}", "line 2: aliases expand this to more than 100,000 values"),
])
def test_bad_rules_files_name_what_is_wrong(text, needle):
    with pytest.raises(RulesError) as e:
        parse_rules(text, "my.yaml")
    assert needle in str(e.value) and "my.yaml" in str(e.value)


def test_missing_rules_file(tmp_path):
    with pytest.raises(RulesError, match="cannot read rules file"):
        load_rules(str(tmp_path / "nope.yaml"))
