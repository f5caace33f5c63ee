"""model/owners.py: whose each buffer is, by which rule, on what evidence."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from droidtrack.model import Process
from droidtrack.model.owners import (ALLOCATOR, APP, APPS, KERNEL, LAST_APP, NAMED, OVERRIDE, SERVICE,
                                     UNATTRIBUTED, OwnerRulesError, infer, load_owner_rules, parse_owner_rules)
from dtfactory import MiB, PROCS, buf, fd, mapped, snap

ALLOC = Process(450, "allocator", ("/vendor/bin/hw/android.hardware.graphics.allocator-V2-service",), uid=1000)
OTHER_APP = Process(2345, "com.other.app", ("com.other.app",), uid=10200)
SANDBOX = Process(3456, "com.other.app:sandboxed_process0", ("com.other.app:sandboxed_process0",), uid=99001)


def procs(*extra: Process) -> dict[int, Process]:
    d = dict(PROCS)
    d.update({p.pid: p for p in extra})
    return d


def owner(s, key="ino:1", rules=None, previous=None):
    return infer(s, rules, previous).owners[key]


def test_an_app_owns_what_it_shares_with_services():
    s = snap([buf(1, 4 * MiB, holders={500: mapped(3), 700: fd(9), 1234: fd(40)})])
    o = owner(s)
    assert (o.pid, o.package, o.rule) == (1234, "com.example.camera", APP)
    assert "surfaceflinger" in o.evidence and "camera.provider" in o.evidence


def test_a_buffer_only_services_hold_belongs_to_the_service_not_the_allocator_that_made_it():
    s = snap([buf(1, MiB, holders={450: fd(3), 500: fd(4)})], procs=procs(ALLOC))
    o = owner(s)
    assert (o.pid, o.name, o.rule) == (500, "/system/bin/surfaceflinger", SERVICE)


def test_a_buffer_only_the_allocator_holds_is_the_allocators():
    s = snap([buf(1, MiB, holders={450: fd(3)})], procs=procs(ALLOC))
    assert (owner(s).pid, owner(s).rule) == (450, ALLOCATOR)


def test_a_name_that_names_a_package_decides_even_when_only_services_hold_it():
    s = snap([buf(1, MiB, name="com.example.camera/Preview#0", holders={500: fd(3), 700: fd(4)})])
    o = owner(s)
    assert (o.pid, o.package, o.rule) == (1234, "com.example.camera", NAMED)
    assert "com.example.camera/Preview#0" in o.evidence


def test_a_name_naming_a_package_not_on_the_device_is_no_evidence():
    s = snap([buf(1, MiB, name="com.gone.app/Main#0", holders={500: fd(3)})])
    assert owner(s).rule == SERVICE


def test_two_apps_sharing_a_buffer_is_said_never_silently_picked():
    s = snap([buf(1, MiB, holders={1234: fd(3), 2345: fd(4)})], procs=procs(OTHER_APP))
    found = infer(s)
    o = found.owners["ino:1"]
    assert o.rule == APPS and o.pid == 1234
    assert any("com.example.camera" in p.message and "com.other.app" in p.message for p in found.problems)


def test_an_isolated_process_counts_as_its_app():
    s = snap([buf(1, MiB, holders={3456: fd(3), 500: fd(4)})], procs=procs(OTHER_APP, SANDBOX))
    o = owner(s)
    assert (o.package, o.rule) == ("com.other.app", APP)
    assert o.pid == 3456        # the process that holds it (the app's main process does not)


def test_unheld_buffers_are_the_kernels_or_unattributed():
    s = snap([buf(1, MiB)])
    assert (owner(s).pid, owner(s).rule) == (None, KERNEL)
    from dataclasses import replace
    b = replace(buf(1, MiB), holders_known=False)
    assert owner(snap([b])).rule == UNATTRIBUTED


def test_history_names_the_last_app_holder_after_the_app_let_go():
    before = snap([buf(1, MiB, holders={500: fd(3), 1234: fd(40)})])
    prev = infer(before).owners
    after_procs = procs()
    del after_procs[1234]                      # the app exited; SurfaceFlinger still holds its buffer
    after = snap([buf(1, MiB, holders={500: fd(3)})], procs=after_procs)
    o = owner(after, previous=prev)
    assert (o.pid, o.package, o.rule) == (None, "com.example.camera", LAST_APP)
    assert "gone" in o.evidence
    # and it stays so in the snapshot after that (last app holder carries over)
    o2 = owner(after, previous={"ino:1": o})
    assert (o2.package, o2.rule) == ("com.example.camera", LAST_APP)


def test_user_overrides_and_roles(tmp_path):
    rules = parse_owner_rules(
        "version: 1\n"
        "roles:\n"
        "  - {process: surfaceflinger, role: app}\n"
        "overrides:\n"
        "  - {name: 'cam_*', owner: com.example.camera}\n", "mine.yaml")
    s = snap([buf(1, MiB, name="cam_raw", holders={500: fd(3)}), buf(2, MiB, holders={500: fd(4), 600: fd(5)})])
    found = infer(s, rules).owners
    assert (found["ino:1"].pid, found["ino:1"].rule) == (1234, OVERRIDE)
    assert "mine.yaml line 5" in found["ino:1"].evidence
    assert (found["ino:2"].pid, found["ino:2"].rule) == (500, APP)


@pytest.mark.parametrize("text, words", [
    ("roles:\n  - {process: sf, rol: service}\n", ["line 2", "rol"]),
    ("roles:\n  - {process: sf}\n  - {process: x, role: boss}\n", ["line 2", "role"]),
    ("overrides:\n\n  - {nmae: x, owner: y}\n", ["line 3", "nmae"]),
    ("overrides:\n  - {name: x}\n", ["line 2", "owner"]),
    ("roles:\n  - {uid: ten, role: app}\n", ["line 2", "uid"]),
    ("rolez: []\n", ["rolez"]),
    ("roles: [\n", ["not valid YAML"]),
    ("roles: !custom x\n", ["line 1", "unknown tag '!custom'"]),
    ("[" * 5000 + "]" * 5000, ["line 1", "nested too deeply"]),
    # billion laughs: printing the bad role repeated 10**8 values (the process hung)
    ("x: [&l0 [a, a, a, a, a, a, a, a, a, a]" + "".join(f", &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]"
                                                       for i in range(1, 8)) + "]\n"
     "roles:\n  - {process: sf, role: *l7}\n", ["line 1", "more than 100,000 values"]),
], ids=["role-key", "role-value", "override-key", "override-owner", "uid", "top-key", "yaml", "yaml-tag", "deep",
        "laughs"])
def test_owner_rules_with_typos_name_the_line_and_key(text, words):
    with pytest.raises(OwnerRulesError) as e:
        parse_owner_rules(text, "mine.yaml")
    msg = str(e.value)
    assert "mine.yaml" in msg and all(w in msg for w in words), msg


def test_the_built_in_rules_load_and_know_the_aosp_services():
    r = load_owner_rules()
    assert r.role_of(ALLOC) == "allocator"
    assert r.role_of(PROCS[500]) == "service" and r.role_of(PROCS[700]) == "service"
    assert r.role_of(PROCS[1234]) == "app"
    assert r.role_of(Process(9, "vendor.foo", ("/vendor/bin/foo",), uid=1066)) == "service"


_hostile = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 64), st.sets(st.sampled_from([1, 500, 600, 700, 1234, 2345]), max_size=4),
                          st.one_of(st.none(), _hostile, st.sampled_from(["com.example.camera/x", "com.other.app#1"]))),
                max_size=30))
def test_every_buffer_gets_exactly_one_owner_that_holds_it_or_is_named(spec):
    bufs = [buf(i, size, name=name, holders={pid: fd(3) for pid in pids}) for i, (size, pids, name) in enumerate(spec, 1)]
    s = snap(bufs, procs=procs(OTHER_APP))
    found = infer(s).owners
    assert set(found) == set(s.buffers)
    for key, o in found.items():
        b = s.buffers[key]
        if not b.holders:
            assert o.pid is None and o.rule == KERNEL
            if b.name == "com.example.camera/x":
                assert o.package == "com.example.camera"      # kept as evidence, charged to nobody
        elif o.rule == NAMED:
            assert o.package in (b.name or "")
        else:
            assert o.pid in b.holders


def test_surfaceflingers_gralloc_names_join_only_where_size_cannot_be_wrong():
    from droidtrack.model.owners import gralloc_names
    from droidtrack.parse.surfaceflinger import parse
    dump = ("Imported gralloc buffers:\n"
            + "".join(f"+ name:com.example.camera/Preview#{i}, id:{i}, size:4096.00KiB, w/h:1x1, usage: 0x20000, req fmt:1\n"
                      f"\tplanes: Y:\t w/h:1x1, stride:1 bytes, size:4194304\n" for i in range(2))
            + "+ name:StatusBar#0, id:9, size:2048.00KiB, w/h:1x1, usage: 0xb00, req fmt:1\n"
            + "+ name:NavigationBar#0, id:10, size:2048.00KiB, w/h:1x1, usage: 0xb00, req fmt:1\n"
            + "Total imported by gralloc: 12288.00KiB\n")
    rows = parse(dump).records
    s = snap([buf(1, 4 * MiB, holders={500: fd(3), 700: fd(4)}), buf(2, 4 * MiB, holders={500: fd(5)}),
              buf(3, 2 * MiB, holders={500: fd(6)}), buf(4, 2 * MiB, holders={500: fd(7)}),
              buf(5, 4 * MiB, holders={600: fd(8)})])          # not SurfaceFlinger's: not a candidate
    names, problems = gralloc_names(s, rows)
    # two rows of 4 MiB naming one package, two such buffers SurfaceFlinger holds: joined (which
    # row is which buffer cannot be told, whose they are can); two 2 MiB rows naming different
    # layers: not joined
    assert set(names) == {"ino:1", "ino:2"}
    assert names["ino:1"] == "com.example.camera/Preview#0 (or com.example.camera/Preview#1)"
    assert any("2097152 bytes" in p.message and "not joined" in p.message for p in problems)
    found = infer(s, names=names).owners
    assert (found["ino:1"].pid, found["ino:1"].rule) == (1234, NAMED)
    assert "SurfaceFlinger gralloc" in found["ino:2"].evidence
    assert found["ino:3"].rule == SERVICE


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1 << 30), st.sets(st.sampled_from([1, 500, 600, 700, 1234, 2345, 3456]), max_size=4),
                          st.booleans()), max_size=40))
def test_every_byte_is_charged_exactly_once(spec):
    from dataclasses import replace
    from droidtrack.model.account import account
    bufs = [replace(buf(i, size, holders={pid: fd(3) for pid in pids}), holders_known=known)
            for i, (size, pids, known) in enumerate(spec, 1)]
    s = snap(bufs, procs=procs(OTHER_APP, SANDBOX))
    t = account(s)
    charged = sum(a.charged for a in t.processes.values())
    assert charged + t.totals.owner_gone + t.totals.kernel_only + t.totals.unattributed == t.totals.bytes
    assert sum(t.totals.by_owner.values()) == charged + t.totals.owner_gone
    assert t.totals.charged == charged
    from droidtrack.model.account import owner_groups
    groups = owner_groups(s)
    assert {n: g.bytes for n, g in groups.items()} == t.totals.by_owner
    assert sum(g.gone for g in groups.values()) == t.totals.owner_gone
    assert all(sum(g.by_rule.values()) == g.bytes == sum(g.by_tag.values()) for g in groups.values())
    assert [g.bytes for g in groups.values()] == sorted((g.bytes for g in groups.values()), reverse=True)


def test_an_exited_last_app_holder_is_charged_to_no_process_and_counted_apart():
    from droidtrack.model.account import account
    before = snap([buf(1, MiB, holders={500: fd(3), 1234: fd(40)})])
    after_procs = procs()
    del after_procs[1234]
    after = snap([buf(1, MiB, holders={500: fd(3)})], procs=after_procs)
    from dataclasses import replace
    after = replace(after, owners=infer(after, previous=infer(before).owners).owners)
    t = account(after)
    assert t.totals.owner_gone == MiB and t.totals.by_owner == {"com.example.camera": MiB}
    assert all(a.charged == 0 for a in t.processes.values())


def test_owner_groups_charge_each_buffer_once_and_say_who_holds_it():
    from dataclasses import replace
    from droidtrack.model.account import account, owner_groups, owner_key
    s = snap([buf(1, 4 * MiB, holders={500: mapped(3), 700: fd(9), 1234: fd(40)}),   # the app's
              buf(2, 2 * MiB, holders={700: fd(10), 1234: fd(41)}),                   # the app's
              buf(3, 1 * MiB, holders={500: fd(11)}),                                 # surfaceflinger's
              buf(4, 3 * MiB),                                                        # kernel-only
              replace(buf(5, 5 * MiB), holders_known=False)])                         # unattributed
    a = account(s)
    g = owner_groups(s, a)
    assert list(g) == ["com.example.camera", "/system/bin/surfaceflinger"]
    cam = g["com.example.camera"]
    assert (cam.pids, cam.package, cam.bytes, cam.buffers, cam.gone) == ((1234,), "com.example.camera", 6 * MiB, 2, 0)
    assert cam.held_by == {500: 4 * MiB, 700: 6 * MiB, 1234: 6 * MiB}
    assert cam.by_rule == {APP: 6 * MiB}
    assert cam.bytes == a.processes[1234].charged
    assert g["/system/bin/surfaceflinger"].package is None
    assert owner_groups(s) == g                 # the accounting's owners are the snapshot's
    assert a.owners["ino:1"].rule == APP        # the accounting keeps the owners it charged
    assert [owner_key(a.owners[f"ino:{i}"]) for i in range(1, 6)] == [
        "o:com.example.camera", "o:com.example.camera", "o:/system/bin/surfaceflinger", "kernel", "unknown"]


def test_a_gone_owner_keeps_its_name_and_a_process_named_kernel_is_not_the_kernel():
    from dataclasses import replace
    from droidtrack.model.account import account, owner_groups, owner_key
    before = snap([buf(1, MiB, holders={500: fd(3), 1234: fd(40)})])
    after_procs = procs(Process(42, "kernel", ("kernel",), uid=1000))
    del after_procs[1234]
    after = snap([buf(1, MiB, holders={500: fd(3)}), buf(2, 2 * MiB, holders={42: fd(3)}), buf(3, 4 * MiB)],
                 procs=after_procs)
    after = replace(after, owners=infer(after, previous=infer(before).owners).owners)
    a = account(after)
    g = owner_groups(after, a)
    assert set(g) == {"com.example.camera", "kernel"}
    gone = g["com.example.camera"]
    assert (gone.pids, gone.bytes, gone.gone, gone.held_by, gone.by_rule) == ((), MiB, MiB, {500: MiB}, {LAST_APP: MiB})
    assert g["kernel"].pids == (42,) and g["kernel"].bytes == 2 * MiB
    assert [owner_key(a.owners[k]) for k in ("ino:2", "ino:3")] == ["o:kernel", "kernel"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1 << 30), st.sets(st.sampled_from([1, 500, 600, 700, 1234, 2345, 3456]), max_size=4),
                          st.booleans(), st.one_of(st.none(), st.sampled_from(["com.example.camera/x", "kernel"]))),
                max_size=40))
def test_owner_groups_add_up_to_the_held_bytes_and_to_what_each_process_is_charged(spec):
    from dataclasses import replace
    from droidtrack.model.account import account, owner_groups
    bufs = [replace(buf(i, size, name=name, holders={pid: fd(3) for pid in pids}), holders_known=known)
            for i, (size, pids, known, name) in enumerate(spec, 1)]
    s = snap(bufs, procs=procs(OTHER_APP, SANDBOX))
    a = account(s)
    g = owner_groups(s, a)
    t = a.totals
    assert sum(x.bytes for x in g.values()) == t.userspace
    assert sum(x.bytes for x in g.values()) + t.kernel_only + t.unattributed == t.bytes
    assert sum(x.buffers for x in g.values()) == sum(1 for b in s.buffers.values() if b.holders)
    assert sum(x.bytes - x.gone for x in g.values()) == t.charged
    for x in g.values():
        assert all(v <= x.bytes for v in x.held_by.values())
        assert set(x.held_by) <= {p for b in s.buffers.values() for p in b.holders}
    per_pid: dict[int, int] = {}
    for key, b in s.buffers.items():
        o = a.owners[key]
        if o.pid is not None:
            per_pid[o.pid] = per_pid.get(o.pid, 0) + b.size
    assert per_pid == {pid: p.charged for pid, p in a.processes.items() if pid in per_pid}
    assert not any(p.charged for pid, p in a.processes.items() if pid not in per_pid)


def test_groups_carry_what_their_members_are_charged_even_where_they_hold_nothing():
    from droidtrack.model.account import account, process_groups, tag_groups
    s = snap([buf(1, 4 * MiB, tag="camera", holders={700: fd(9), 1234: fd(40)}),                 # the app's
              buf(2, 2 * MiB, tag="graphics", name="com.example.camera/Preview#0", holders={500: fd(3)}),  # named
              buf(3, 1 * MiB, tag="graphics", holders={500: fd(4)}),                               # surfaceflinger's
              buf(4, 8 * MiB, tag="camera")])                                                      # kernel-only
    a = account(s)
    assert a.processes[1234].charged == 6 * MiB and a.processes[500].charged == MiB
    g = process_groups(s, a, {1234: "app", 500: "services", 700: "services"})
    assert (g["app"].charged, g["services"].charged) == (6 * MiB, MiB)
    assert sum(x.charged for x in g.values()) == a.totals.charged
    # the app alone: its group is there for what it is charged though it holds only one buffer...
    alone = process_groups(s, a, {1234: "app"})
    assert (alone["app"].rss, alone["app"].charged, alone["app"].pids) == (4 * MiB, 6 * MiB, (1234,))
    # ...and where it holds nothing at all
    s2 = snap([buf(2, 2 * MiB, name="com.example.camera/Preview#0", holders={500: fd(3)})])
    a2 = account(s2)
    only = process_groups(s2, a2, {1234: "app"})
    assert (only["app"].rss, only["app"].buffers, only["app"].charged, only["app"].pids) == (0, 0, 2 * MiB, (1234,))
    t = tag_groups(s, a)
    assert (t["camera"].charged, t["graphics"].charged) == (4 * MiB, 3 * MiB)
    assert sum(x.charged for x in t.values()) == a.totals.charged
