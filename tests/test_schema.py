"""model/schema.py owns both directions of the snapshot JSON: what it writes it reads back whole
(snapshot -> JSON -> snapshot -> JSON is the same text, for any snapshot the model can hold), and
what it reads it validates (clear SchemaError, exit 2 in `diff` and `check --baseline`)."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dtfactory as f
from droidtrack.cli import main
from droidtrack.model import Buffer, DeviceInfo, Holding, MapRef, Process, Snapshot, SourceStatus, schema
from droidtrack.model.account import account
from droidtrack.model.problems import Problem

HOSTILE = ["=HYPERLINK(\"http://x\")", "\u202eevil", "a\tb\nc", "\x00\x1b[31m", "\udcff", "<b>&amp;</b>",
           "é€😀", "\\", "\"", ""]


def round_trip(snap: Snapshot, all_processes: bool = True) -> tuple[str, str]:
    first = schema.dumps(snap, all_processes=all_processes)
    back = schema.loads(first.encode("utf-8"))
    return first, schema.dumps(back, all_processes=all_processes)


def test_holding_kind_and_unattributed_survive_a_reload():
    """json_out wrote `by` and `holders_known` and the reader dropped both: after a reload an
    unknown-kind holding became fd-only and an unattributed buffer kernel-only."""
    bufs = [f.buf(1, 4 * f.MiB, holders={1234: Holding(by="unknown")}),
            f.buf(2, 2 * f.MiB, holders={500: Holding(by="map")}),
            Buffer("ino:3", f.MiB, 3, "system", None, holders_known=False)]
    snap = f.snap(bufs)
    back = schema.loads(schema.dumps(snap))
    assert back.buffers["ino:1"].holders[1234].by == "unknown"
    assert back.buffers["ino:3"].holders_known is False
    t, tb = account(snap).totals, account(back).totals
    assert (tb.fd_only, tb.mapped, tb.kernel_only, tb.unattributed) == (t.fd_only, t.mapped, t.kernel_only,
                                                                        t.unattributed) == (0, 2 * f.MiB, 0, f.MiB)


def test_a_leaking_series_reads_back_to_the_same_text():
    for s in f.leaking_series(4):
        a, b = round_trip(s)
        assert a == b
        # without all_processes the processes holding nothing are left out: only their count differs
        a, b = (json.loads(x) for x in round_trip(s, all_processes=False))
        assert a["totals"].pop("device_processes") == len(s.processes)
        b["totals"].pop("device_processes")
        # coverage counts every process too (those left out are the ones nothing is known of)
        cov = a.pop("coverage")
        assert sum(cov[g] for g in ("exact", "estimated", "unknown")) <= len(s.processes)
        b.pop("coverage")
        assert a == b


texts = st.one_of(st.sampled_from(HOSTILE), st.text(st.characters(blacklist_categories=()), max_size=8))
maybe_text = st.one_of(st.none(), texts)
sizes = st.integers(0, 2**64)
maybe_size = st.one_of(st.none(), sizes)


@st.composite
def maprefs(draw):
    start = draw(sizes)
    return MapRef(start, start + draw(sizes), draw(sizes), draw(texts), draw(maybe_size), draw(maybe_size))


holdings = st.builds(Holding, st.lists(st.integers(0, 1 << 20), max_size=3).map(tuple),
                     st.lists(maprefs(), max_size=2).map(tuple),
                     st.one_of(st.none(), st.sampled_from(schema.HOLDING_KINDS)))
buffers = st.builds(Buffer, texts, sizes, maybe_size, maybe_text, maybe_text, maybe_size,
                    st.lists(texts, max_size=2).map(tuple),
                    st.dictionaries(st.integers(0, 50), holdings, max_size=3), texts, texts,
                    st.lists(texts, max_size=3).map(tuple), st.dictionaries(texts, texts, max_size=3),
                    st.booleans())
processes = st.builds(Process, st.integers(0, 60), texts, st.lists(texts, max_size=2).map(tuple), maybe_size,
                      maybe_size, st.one_of(st.none(), st.integers(-1000, 1000)),
                      st.one_of(st.none(), st.booleans()), st.one_of(st.none(), st.booleans()),
                      st.dictionaries(texts, st.integers(-2**63, 2**63), max_size=2))
devices = st.builds(DeviceInfo, maybe_text, maybe_text, maybe_text, maybe_text, maybe_text,
                    st.one_of(st.none(), st.integers(-5, 40)), maybe_text, maybe_size, maybe_text)
problems = st.builds(Problem, texts, texts, st.one_of(st.none(), st.integers(0, 10**6)), maybe_text, maybe_text)


@settings(max_examples=200, deadline=None)
@given(st.lists(buffers, max_size=6), st.lists(processes, max_size=4), devices,
       st.dictionaries(texts, st.builds(SourceStatus, texts, texts), max_size=3),
       st.lists(problems, max_size=3).map(tuple), st.dictionaries(texts, st.integers(-2**63, 2**63), max_size=3),
       st.floats(), texts)
def test_any_snapshot_round_trips_to_the_same_text(bufs, procs, dev, sources, probs, reported, t, origin):
    snap = Snapshot(time=t, device=dev, buffers={b.key: b for b in bufs}, processes={p.pid: p for p in procs},
                    sources=sources, problems=probs, reported=reported, origin=origin)
    a, b = round_trip(snap)
    assert a == b


def doc() -> dict:
    return json.loads(schema.dumps(f.leaking_series(3)[2]))


def broken(path: str, value) -> dict:
    d = doc()
    *head, last = path.split(".")
    o = d
    for k in head:
        o = o[int(k)] if k.isdigit() else o[k]
    o[int(last) if last.isdigit() else last] = value
    return d


@pytest.mark.parametrize("path,value,says", [
    ("buffers.0.size", -5, "buffers[0].size must be an integer >= 0, not -5"),
    ("buffers.0.size", "5", "buffers[0].size must be an integer >= 0, not '5'"),
    ("buffers.0.size", True, "buffers[0].size must be an integer >= 0, not True"),
    ("buffers.0.inode", 1.5, "buffers[0].inode must be an integer >= 0 or null"),
    ("buffers.0.name", ["x"], "buffers[0].name must be a string or null, not a list"),
    ("buffers.0.holders", [], "buffers[0].holders must be an object, not a list"),
    ("buffers.0.holders_known", "yes", "buffers[0].holders_known must be true or false"),
    ("buffers", {"a": 1}, "buffers must be a list, not an object"),
    ("processes.0.pid", -1, "processes[0].pid must be an integer >= 0"),
    ("processes.0.cmdline", [1], "processes[0].cmdline[0] must be a string, not 1"),
    ("device.serial", 5, "device.serial must be a string or null, not 5"),
    ("reported", {"x": "1"}, "reported['x'] must be an integer"),
    ("time", "now", "time must be a number"),
    ("sources", [], "sources must be an object"),
])
def test_wrong_values_are_named(path, value, says):
    with pytest.raises(schema.SchemaError) as e:
        schema.from_dict(broken(path, value), "s.json")
    assert str(e.value).startswith("s.json: ") and says in str(e.value)


def test_holders_are_checked_down_to_the_mapping():
    d = doc()
    b = next(b for b in d["buffers"] if b["holders"])
    pid = next(iter(b["holders"]))
    b["holders"][pid]["fds"] = [-3]
    with pytest.raises(schema.SchemaError, match=r"holders\['\d+'\]\.fds\[0\] must be an integer >= 0"):
        schema.from_dict(d)
    b["holders"][pid] = {"fds": [], "maps": [{"start": 10, "end": 4}]}
    with pytest.raises(schema.SchemaError, match=r"maps\[0\]\.end must be an integer >= 10"):
        schema.from_dict(d)
    b["holders"][pid] = {"fds": [1], "maps": [], "by": "telepathy"}
    with pytest.raises(schema.SchemaError, match=r"\.by must be one of fd, map, fd\+map, unknown"):
        schema.from_dict(d)
    b["holders"] = {"x1": {"fds": [1]}}
    with pytest.raises(schema.SchemaError, match="keyed by pids"):
        schema.from_dict(d)


def test_repeated_keys_missing_fields_and_other_documents():
    d = doc()
    d["buffers"].append(dict(d["buffers"][0]))
    with pytest.raises(schema.SchemaError, match="a key no other buffer has"):
        schema.from_dict(d)
    with pytest.raises(schema.SchemaError, match="has no size"):
        schema.from_dict({"schema": "droidtrack.snapshot/1", "buffers": [{"key": "k"}]})
    with pytest.raises(schema.SchemaError, match="not a droidtrack snapshot"):
        schema.from_dict({"schema": "other"})
    with pytest.raises(schema.SchemaError, match="not a droidtrack snapshot"):
        schema.from_dict([1, 2])
    with pytest.raises(schema.SchemaError, match="snapshot/2' is not supported"):
        schema.from_dict({"schema": "droidtrack.snapshot/2"})
    # a minimal document of an older writer: fields it lacks take the model's defaults
    s = schema.from_dict({"schema": "droidtrack.snapshot/1", "buffers": [{"key": "k", "size": 3}]})
    assert s.buffers["k"].holders_known is True and s.buffers["k"].tag == "other"


def test_bombs_and_bad_text_are_schema_errors():
    deep = b'{"schema": "droidtrack.snapshot/1", "device": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(schema.SchemaError, match="line 1: nested too deeply"):
        schema.loads(deep)
    # the line is where it gets deeper than any snapshot; brackets inside strings do not count
    deep = '{"schema": "droidtrack.snapshot/1",\n"origin": "[[[[{{",\n"device":\n' + "[" * 5000 + "]" * 5000 + "}"
    with pytest.raises(schema.SchemaError, match="line 4: nested too deeply"):
        schema.loads(deep)
    with pytest.raises(schema.SchemaError, match="must be an object, not a list"):
        schema.loads(b'{"schema": "droidtrack.snapshot/1", "device": ' + b"[" * 500 + b"]" * 500 + b"}")
    with pytest.raises(schema.SchemaError, match="not UTF-8"):
        schema.loads(b'{"schema": "\xff"}')
    with pytest.raises(schema.SchemaError, match="not valid JSON"):
        schema.loads(b'{"schema": ')


@pytest.mark.parametrize("bad", [
    json.dumps(broken("buffers.0.size", -5)),
    '{"schema": "droidtrack.snapshot/1", "buffers": ' + "[" * 5000 + "]" * 5000 + "}",
])
def test_diff_and_check_baseline_refuse_a_bad_snapshot_with_exit_2(tmp_path, capsys, bad):
    good, wrong = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(schema.dumps(f.snap(f.base_buffers())))
    wrong.write_text(bad)
    assert main(["diff", str(wrong), str(good)]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "Traceback" not in err
    budget = tmp_path / "b.yaml"
    budget.write_text("version: 1\ngrowth: {total: 4MiB}\n")
    assert main(["check", "-b", str(budget), "--replay", str(good), "--baseline", str(wrong)]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and ("size must be an integer >= 0" in err or "nested too deeply" in err)


def _read_both(d: dict, monkeypatch):
    """from_dict's result (or error) with schema_fast's shortcuts and with only the named checks."""
    def outcome():
        try:
            return schema.from_dict(json.loads(json.dumps(d)), "s.json")
        except schema.SchemaError as e:
            return str(e)

    def slow(_):
        raise schema.Slow
    fast = outcome()
    with monkeypatch.context() as m:
        m.setattr(schema, "fast_buffer", slow)
        m.setattr(schema, "fast_owner", slow)
        return fast, outcome()


ODD_VALUES = (None, True, False, -1, 0, 3, 4096, 1.5, "", "x", "1", "fd", "kernel-only", [], [1], [-1], ["a"],
              [True], [{}], [{"start": 1, "end": 0}], [{"start": 0, "end": 5, "rss": -1}], {}, {"1": {}},
              {"x": {}}, {"1": 5}, {"a": 1}, {"start": 0, "end": 1}, {"rule": "x"})
BUFFER_FIELDS = ("key", "size", "inode", "exporter", "name", "count", "attached", "holders", "tag", "tag_rule",
                 "sources", "provenance", "holders_known", "owner", "owner.rule", "owner.pid", "owner.name",
                 "holders.1", "holders.1.fds", "holders.1.maps", "holders.1.by", "holders.1.maps.0.start",
                 "holders.1.maps.0.end", "holders.1.maps.0.rss", "holders.1.maps.0.perms")


@pytest.mark.parametrize("field", BUFFER_FIELDS)
def test_the_shortcut_reads_every_buffer_as_the_named_checks_do(field, monkeypatch):
    """schema_fast takes the well-formed buffers, owners and holdings without naming their fields;
    whatever a buffer holds (wrong, missing, unusual), the snapshot or the error is the same."""
    from droidtrack.model import schema_fast
    for value in ("<dropped>",) + ODD_VALUES:
        d = json.loads(schema.dumps(Snapshot(time=1.0, device=DeviceInfo(), buffers={"ino:7": Buffer(
            "ino:7", 4096, 7, "system", "n", 2, ("gpu",), {1: Holding((3,), (MapRef(0, 4096, 0, "rw-s", 4096, 2048),))},
            sources=("fdinfo",), provenance={"size": "fdinfo"})}, processes={1: Process(1, "p")}, sources={})))
        o = d["buffers"][0]
        assert schema_fast.fast_buffer(o).key == "ino:7" and schema_fast.fast_owner(o["owner"])  # taken
        *head, last = field.split(".")
        for k in head:
            o = o[k] if isinstance(o, dict) else o[0]
        o = o[0] if isinstance(o, list) else o
        if value == "<dropped>":
            o.pop(last, None)
        else:
            o[last] = value
        fast, checked = _read_both(d, monkeypatch)
        assert fast == checked, (field, value)
