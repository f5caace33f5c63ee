"""The parsers' fast paths (one regex per kernel-shaped line or block) against their line-by-line
rules (`fast=False`): the same records, problems and summary fields, on real collector output
from synthetic phones of each kernel generation, on seeded mutations of it, and on generated
hostile text. Also: `record_builder` gives real, frozen, equal records.
"""
from __future__ import annotations

import dataclasses
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector_support import collected, random_phone
from droidtrack.collect import frames
from droidtrack.parse import bufinfo, fdlinks, maps, sysfs_stats
from droidtrack.parse.grepout import record_builder
from droidtrack.sim.synth import DeviceTree

GENERATIONS = ["a9-4.9", "a11-5.4", "a13-5.15", "a15-6.6"]
NAMES = [None, "gralloc", "CAMERA", "a\tb", "[bold]x", "x -> y", "esc\x1b[31m", "G:screenshot", "two\nlines",
         " lead", "/dmabuf:inner", "Total 1 devices attached"]


def _phone(generation: str, seed: int) -> DeviceTree:
    return random_phone(generation, seed, NAMES, processes=12, buffers=40, refs=80,
                        sizes=(4096, 8192, 65536, 1 << 20))


@pytest.fixture(scope="module", params=GENERATIONS)
def capture(request, tmp_path_factory):
    t = _phone(request.param, seed=len(request.param))
    out = collected(t, tmp_path_factory.mktemp("fastpath") / "root", "T0k3nFastPath")
    fr = frames.decode(out)
    texts = {k: s.text() for k, s in fr.sections.items()}
    # v2's maps section names the files; maps' lines are the VMA lines of the smaps groups
    texts["maps"] = "".join(f"{m.group(1)}maps:{m.group(2)}\n" for m in re.finditer(
        "\n(" + re.escape(fr.root) + "/proc/[0-9]{1,20}/)smaps:([^\n]*)", "\n" + texts["smaps"]))
    return t, fr, texts


def _same(a, b) -> None:
    assert a.records == b.records
    assert a.problems == b.problems
    for f in dataclasses.fields(a):
        assert getattr(a, f.name) == getattr(b, f.name), f.name


def _mutants(text: str, seed: int, n: int):
    """Deterministic small edits: inserted hostile characters, dropped/duplicated lines, cuts."""
    rnd = random.Random(seed)
    bits = ["\t", " ", "\n", "\r", ":", "-", "--", "\x0b", "\u2028", "0", "A", "/", "\\012", " -> ", "kB", "\\x80"]
    lines = text.split("\n")
    for _ in range(n):
        a = rnd.randrange(len(lines))
        chunk = lines[a:a + rnd.randint(1, 40)]
        if rnd.random() < 0.3:
            chunk = lines[:rnd.randint(1, 4)] + chunk
        s = "\n".join(chunk) + ("\n" if rnd.random() < 0.6 else "")
        for _ in range(rnd.randint(0, 3)):
            if not s:
                break
            p = rnd.randrange(len(s) + 1)
            op = rnd.randrange(4)
            if op == 0:
                s = s[:p] + rnd.choice(bits) + s[p:]
            elif op == 1:
                s = s[:p] + s[p + rnd.randint(1, 5):]
            elif op == 2:
                ls = s.split("\n")
                ls.insert(rnd.randrange(len(ls) + 1), rnd.choice(ls))
                s = "\n".join(ls)
            else:
                s = s[:p]
        yield s


def _check_sections(fr, texts, fn, name, variants=150):
    text = texts[name]
    fast, slow = fn(text, True), fn(text, False)
    _same(fast, slow)
    for k, s in enumerate(_mutants(text, seed=len(text), n=variants)):
        _same(fn(s, True), fn(s, False))
    return fast


def test_maps_fast_equals_line_by_line(capture):
    t, fr, texts = capture
    r = _check_sections(fr, texts, lambda s, f: maps.parse_maps(s, fr.root, fast=f), "maps")
    held = sum(len(p.maps) for p in t.processes.values())
    assert len(r.records) == held and held > 0


def test_smaps_fast_equals_line_by_line(capture):
    t, fr, texts = capture
    r = _check_sections(fr, texts, lambda s, f: maps.parse_smaps(s, fr.root, fast=f), "smaps")
    want = sorted((pid, m.start, m.rss) for pid, p in t.processes.items() for _b, m in p.maps)
    assert sorted((v.pid, v.start, v.rss) for v in r.records) == want


def test_bufinfo_fast_equals_line_by_line(capture):
    t, fr, texts = capture
    if not texts.get("bufinfo", "").strip():
        pytest.skip("this generation has no debugfs bufinfo")
    r = _check_sections(fr, texts, lambda s, f: bufinfo.parse(s, fast=f), "bufinfo")
    assert len(r.records) == len(t.buffers) and sum(b.size for b in r.records) == r.total_bytes


def test_fdlinks_fast_equals_line_by_line(capture):
    t, fr, texts = capture
    r = _check_sections(fr, texts, lambda s, f: fdlinks.parse(s, fr.root, fast=f), "fdlinks")
    assert r.records and all(l.pid in t.processes for l in r.records)


def test_sysfs_stats_against_the_tree(capture):
    t, fr, texts = capture
    res = sysfs_stats.parse_text(texts["files"], fr.root)
    if not t.g["sysfs_stats"]:
        assert res.records == []
        return
    assert res.problems == []
    assert sorted((b.inode, b.size, b.exporter) for b in res.records) == sorted(
        (b.inode, b.size, b.exporter) for b in t.buffers)


# ---- generated kernel-shaped text with hostile names, no collector ------------------------------
_name = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**12), st.integers(0, 99), _name, st.lists(_name, max_size=2),
                          st.sampled_from(["7", "6", "5"])), max_size=8),
       st.sampled_from(["5.3", "5.19", "none"]))
def test_bufinfo_generated_blocks(bufs, header):
    out = ["Dma-buf Objects:"]
    if header != "none":
        out.append("size\tflags\tmode\tcount\texp_name\tino" + ("\tname" if header == "5.19" else ""))
    for k, (size, count, name, devs, cols) in enumerate(bufs):
        row = f"{size:08d}\t00080002\t00080007\t{count:08d}\tsystem"
        if cols != "5":
            row += f"\t{k + 1:08d}"
        if cols == "7":
            row += "\t" + name
        out += [row, "\tAttached Devices:"] + ["\t" + d for d in devs] + [f"Total {len(devs)} devices attached", ""]
    out.append(f"Total {len(bufs)} objects, {sum(b[0] for b in bufs)} bytes")
    text = "\n".join(out) + "\n"
    _same(bufinfo.parse(text, fast=True), bufinfo.parse(text, fast=False))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 99999), st.integers(0, 2**40), _name, st.sampled_from(["maps", "smaps"]),
                          st.lists(st.sampled_from(["Size:  4 kB", "Rss:  8 kB", "Pss:  4 kB", "Rss:   x kB",
                                                    "VmFlags: rd sh", "odd line", "--"]), max_size=8)),
                max_size=6),
       st.sampled_from(["", "/r"]))
def test_maps_generated_lines(vmas, root):
    out = []
    for pid, start, name, kind, ctx in vmas:
        p = f"{root}/proc/{pid}/{kind}"
        out.append(f"{p}:{start:08x}-{start + 4096:08x} rw-s 00000000 00:08 {pid} ".ljust(73 + len(p)) + "/dmabuf:" + name)
        out += ["--" if c == "--" else f"{p}-{c}" for c in ctx]
    text = "\n".join(out) + "\n"
    _same(maps.parse_maps(text, root, fast=True), maps.parse_maps(text, root, fast=False))
    _same(maps.parse_smaps(text, root, fast=True), maps.parse_smaps(text, root, fast=False))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 99999), st.lists(st.tuples(st.integers(0, 999), _name,
                                                                    st.sampled_from(["/dmabuf:", "/dev/", "anon_inode:"])),
                                                          max_size=5)), max_size=5),
       st.sampled_from(["", "/r"]), st.booleans())
def test_fdlinks_generated_listings(dirs, root, gnu):
    out = []
    for pid, links in dirs:
        out += [f"{root}/proc/{pid}/fd" + ("/:" if gnu else ":"), "total 0"]
        date = "Nov 26 01:18" if gnu else "2024-05-01 10:00"
        out += [f"lrwx------ 1 u0_a1 u0_a1 64 {date} {fd} -> {kind}{name}" for fd, name, kind in links]
        out.append("")
    text = "\n".join(out)
    _same(fdlinks.parse(text, root, fast=True), fdlinks.parse(text, root, fast=False))


def test_record_builder_gives_real_frozen_equal_records():
    mk = record_builder(maps.DmabufMap)
    assert mk is not maps.DmabufMap
    a = mk(1, 2, 3, "rw-s", 0, "00:08", 7, "n", False, 4)
    b = maps.DmabufMap(1, 2, 3, "rw-s", 0, "00:08", 7, "n", False, 4)
    assert type(a) is maps.DmabufMap and a == b and hash(a) == hash(b) and repr(a) == repr(b)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.pid = 5

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        x: int
    assert record_builder(NoSlots) is NoSlots
