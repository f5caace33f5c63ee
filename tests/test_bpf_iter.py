"""The BPF dma-buf iterator source: the parser on text written from the documented format (four
lines per buffer: inode, size, name, exporter) and on hostile text, and the collector reading the
pinned file on device roots under real mksh+toybox and busybox (a 7.x-shaped phone: no debugfs,
no sysfs stats, only the iterator)."""
from __future__ import annotations

import os
from dataclasses import replace

import pytest

from collector_support import TOKEN, new_root, run_collector
from droidtrack.ingest.stream import snapshot_from_stream
from droidtrack.model.account import account
from droidtrack.parse import bpf_iter
from droidtrack.sim.generations import TABLE
from droidtrack.sim.synth import DeviceTree

SHELLS = ["mksh-static+toybox", "busybox"]


def recs(text: str):
    r = bpf_iter.parse(text)
    return [(x.inode, x.size, x.name, x.exporter) for x in r.records], [p.message for p in r.problems]


# ---- the parser --------------------------------------------------------------------------------

def test_well_formed_text():
    text = "41\n65536\ncam: preview 1\nsystem\n42\n12288\n\nudmabuf\n43\n16384\ngralloc:GL\ndrm\n"
    r = bpf_iter.parse(text)
    assert [(x.inode, x.size, x.name, x.exporter, x.line) for x in r.records] == [
        (41, 65536, "cam: preview 1", "system", 1), (42, 12288, None, "udmabuf", 5), (43, 16384, "gralloc:GL", "drm", 9)]
    assert r.problems == [] and r.total_bytes == 65536 + 12288 + 16384
    assert bpf_iter.parse("").records == []


def test_names_are_kept_as_printed():
    # TABs, markup, formulas, escapes: the name line is the name (AOSP's program turned a newline into a space)
    got, probs = recs("7\n4096\ntab\there <b>=1+1 \\n\nsystem\n8\n4096\nnew line\nsystem\n")
    assert got == [(7, 4096, "tab\there <b>=1+1 \\n", "system"), (8, 4096, "new line", "system")] and probs == []


def test_cut_mid_record():
    # inode and size arrived whole: kept, exporter unknown
    got, probs = recs("7\n4096\nn\nsystem\n8\n8192\nna")
    assert got == [(7, 4096, "n", "system"), (8, 8192, None, None)] and "ends inside" in probs[0]
    # the size line was cut: the record is left out (8 bytes of "8192" would be a wrong size)
    got, probs = recs("7\n4096\nn\nsystem\n8\n81")
    assert got == [(7, 4096, "n", "system")] and "left out" in probs[0]
    got, probs = recs("7\n4096\nn\nsystem\n8")
    assert got == [(7, 4096, "n", "system")] and len(probs) == 1


def test_empty_exporter_is_a_kernel_bug_said_once():
    got, probs = recs("7\n4096\nn\n\n8\n8192\n\nsystem\n")
    assert got == [(7, 4096, "n", None), (8, 8192, None, "system")]
    assert len(probs) == 1 and "empty exporter" in probs[0]


def test_a_name_with_a_newline_never_gives_a_wrong_exporter():
    # a program that does not replace newlines: record 7 spans five lines. Where only one end
    # fits a name of at most 31 bytes, the name is read whole
    z = "z" * 25
    got, probs = recs(f"7\n4096\nnew\nline\nsystem\n8\n8192\n{z}\ndrm\n")
    assert got == [(7, 4096, "new\nline", "system"), (8, 8192, z, "drm")]
    assert "holds a newline" in probs[0]
    # where several ends fit (the next record is short enough to be part of a name), the size
    # is kept and nothing is guessed
    got, probs = recs(f"7\n4096\nnew\nline\nsystem\n8\n8192\nx\ndrm\n9\n4096\n{z}\nsystem\n")
    assert got[0] == (7, 4096, None, None) and (9, 4096, z, "system") in got
    assert all(g[3] in (None, "system", "drm") and g[0] in (7, 8, 9) for g in got)
    assert "cannot be told" in probs[0]
    # a name that spells a whole record: its lines are never a buffer of their own
    got, probs = recs(f"7\n4096\na\n99\n1\nforged\nsystem\n8\n8192\n{z}\ndrm\n")
    assert got == [(7, 4096, "a\n99\n1\nforged", "system"), (8, 8192, z, "drm")]
    got, probs = recs("7\n4096\na\n99\n1\nforged\nsystem\n8\n8192\nx\ndrm\n")
    assert all(g[0] != 99 for g in got) and got[0] == (7, 4096, None, None)


def test_garbage_is_skipped_and_said():
    got, probs = recs("garbage\n\x00\xff\n7\n4096\nn\nsystem\n")
    assert got == [(7, 4096, "n", "system")] and "skipped" in probs[0]
    got, probs = recs("x" * 100000 + "\n")
    assert got == [] and len(probs) == 1 and len(bpf_iter.parse("x" * 100000).problems[0].text) <= 120
    got, probs = recs("1" * 30 + "\n4096\nn\nsystem\n")          # a number no inode can be
    assert got == [] and probs
    got, probs = recs("7\n4096\n" + "n" * 5000 + "\nsystem\n")
    assert got == [(7, 4096, "n" * bpf_iter.MAX_NAME, "system")] and "shortened" in probs[0]


def test_repeats():
    got, probs = recs("7\n4096\nn\nsystem\n7\n4096\nn\nsystem\n")
    assert got == [(7, 4096, "n", "system")] and "again" in probs[0]
    got, probs = recs("7\n4096\nn\nsystem\n7\n8192\nn\nsystem\n")    # another size: both kept
    assert len(got) == 2 and probs == []


def test_large_text_is_fast_and_exact():
    import time
    text = "".join(f"{1000 + i}\n{4096 * (1 + i % 7)}\nbuf {i}\nsystem\n" for i in range(20000))
    t0 = time.perf_counter()
    r = bpf_iter.parse(text)
    dt = time.perf_counter() - t0
    assert len(r.records) == 20000 and r.total_bytes == sum(4096 * (1 + i % 7) for i in range(20000))
    assert dt < 0.5, dt


# ---- the collector and droidtrack on device roots -------------------------------------------------

def phone7(gen: str = "a17-7.3") -> DeviceTree:
    t = DeviceTree(gen)
    t.add_process(500, "surfaceflinger", ("/system/bin/surfaceflinger",), uid=1000)
    t.add_process(600, "com.example.cam", ("com.example.cam",), uid=10100)
    g = t.add_buffer(8294400, "system", "gralloc")
    t.hold_fd(500, g)
    t.hold_fd(600, g)
    t.hold_map(600, g, rss=8192)
    t.hold_fd(600, t.add_buffer(4096, "udmabuf", None))
    t.hold_fd(500, t.add_buffer(12288, "system", "tab\there"))
    t.add_buffer(65536, "system", "kernel held")          # nobody holds it
    t.add_buffer(1 << 20, "qcom,secure", None)             # nor this one
    return t


@pytest.mark.parametrize("shell", SHELLS)
def test_a_7x_phone_with_only_the_iterator_gives_exact_totals(shell):
    t = phone7()
    assert not t.g.debugfs and not t.g.sysfs_stats and t.g.bpf_iter
    root = new_root("a17")
    t.write(root)
    assert not (root / "sys/kernel/dmabuf").exists() and not (root / "sys/kernel/debug").exists()
    run = run_collector(root, shell)
    assert run.rc == 0 and run.fr.complete
    assert run.sec("dmabuf_iter").status == "ok" and run.sec("bufinfo").status == "missing"
    snap = snapshot_from_stream(run.stdout, token=TOKEN, time=0.0)
    tr = t.truth()
    got = {b.inode: b for b in snap.buffers.values()}
    assert set(got) == {b["inode"] for b in tr["buffers"]}
    for tb in tr["buffers"]:
        b = got[tb["inode"]]
        assert (b.size, b.exporter, b.name) == (tb["size"], tb["exporter"], tb["name"]), tb
        assert b.provenance["size"] == "dmabuf_iter" and b.provenance["exporter"] == "dmabuf_iter"
        assert {str(p): sorted(h.fds) for p, h in b.holders.items()} == {p: h["fds"] for p, h in tb["holders"].items()}
    tot = account(snap).totals
    assert (tot.buffers, tot.bytes, tot.kernel_only, tot.userspace) == (
        tr["totals"]["buffers"], tr["totals"]["bytes"], tr["totals"]["kernel_only_bytes"], tr["totals"]["held_bytes"])
    assert tot.kernel_only == 65536 + (1 << 20) and tot.unattributed == 0
    assert snap.reported["dmabuf_iter.total"] == tr["totals"]["bytes"]
    assert snap.sources["dmabuf_iter"].status == "ok"
    assert [p for p in snap.problems if p.source == "dmabuf_iter"] == []


def test_iterator_first_then_sysfs_then_bufinfo_per_field(monkeypatch):
    """A kernel with all three lists (6.18 with debugfs and sysfs stats): size and exporter from
    the iterator, the name from bufinfo (printed raw there), the count from bufinfo."""
    monkeypatch.setitem(TABLE, "all3", replace(TABLE["a13-5.15"], name="all3", bufinfo="5.19", bpf_iter=True))
    t = phone7("all3")
    root = new_root("all3")
    t.write(root)
    run = run_collector(root, "mksh-static+toybox")
    snap = snapshot_from_stream(run.stdout, token=TOKEN, time=0.0)
    for b in snap.buffers.values():
        assert set(b.sources) >= {"dmabuf_iter", "sysfs", "bufinfo"}, b.sources
        assert b.provenance["size"] == "dmabuf_iter" and b.provenance["exporter"] == "dmabuf_iter"
        assert b.provenance.get("count") == "bufinfo"
        if b.name is not None:
            assert b.provenance["name"] == "bufinfo"
    assert len(snap.buffers) == 5 and snap.problems == ()


@pytest.mark.parametrize("shell", SHELLS)
def test_missing_and_denied(shell):
    # a bpf filesystem without the pinned program: cat says "No such file": missing
    t = phone7()
    root = new_root("a17-nopin")
    t.write(root)
    os.unlink(root / "sys/fs/bpf/dmabuf/prog_dmabufIter_iter_dmabuf")
    run = run_collector(root, shell)
    assert run.sec("dmabuf_iter").status == "missing"
    snap = snapshot_from_stream(run.stdout, token=TOKEN, time=0.0)
    assert snap.sources["dmabuf_iter"].status == "missing" and "6.16" in snap.sources["dmabuf_iter"].detail
    # no bpf filesystem at all (an old kernel, an offline tree): no section, no process
    (root / "sys/fs/bpf/dmabuf").rmdir()
    (root / "sys/fs/bpf").rmdir()
    run = run_collector(root, shell)
    assert run.fr.complete and "dmabuf_iter" not in run.fr.sections
    assert "dmabuf_iter" not in snapshot_from_stream(run.stdout, token=TOKEN, time=0.0).sources
    # the shell user (uid 2000) cannot enter the directory: denied, and nothing else is lost
    root = new_root("a17-denied")
    t.write(root)
    os.chmod(root / "sys/fs/bpf/dmabuf", 0o700)
    run = run_collector(root, shell, uid=2000)
    assert run.rc == 0 and run.fr.complete
    assert run.sec("dmabuf_iter").status == "denied"
    snap = snapshot_from_stream(run.stdout, token=TOKEN, time=0.0)
    assert snap.sources["dmabuf_iter"].status == "denied"


def test_a_cut_iterator_text_keeps_what_arrived():
    t = phone7()
    root = new_root("a17-cut")
    t.write(root)
    p = root / "sys/fs/bpf/dmabuf/prog_dmabufIter_iter_dmabuf"
    whole = p.read_bytes()
    p.write_bytes(whole[:-9])     # the last record's exporter and part of its name lost
    run = run_collector(root, "mksh-static+toybox")
    snap = snapshot_from_stream(run.stdout, token=TOKEN, time=0.0)
    assert any(pr.source == "dmabuf_iter" and "ends inside" in pr.message for pr in snap.problems)
    assert len(snap.buffers) == 5
    assert sum(b.size for b in snap.buffers.values()) == t.truth()["totals"]["bytes"]
