"""`droidtrack analyze`: pasted text of one source -> the snapshot it allows, headed by what that
source says; tables condensed by hand ('...' columns) are read where the header names them."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from droidtrack import cli
from droidtrack.ingest.paste import analyze
from droidtrack.model.tags import load_rules
from droidtrack.sources.bugreport import BugreportSource
from report_helpers import BR_DATA, make_bugreport_zip

BUFINFO_HEAD = "\nDma-buf Objects:\nsize\tflags\tmode\tcount\texp_name\tino\tname\n"
KERNEL_ROW = "00004096\t00000002\t00080005\t00000001\tsystem\t00000077\tfoo\n\tAttached Devices:\nTotal 0 devices attached\n\n"


def snap_of(text: str, label: str = "paste.txt"):
    snap, _ = analyze([(label, text.encode())], rules=load_rules())
    return snap


def test_condensed_bufinfo_rows_are_read_with_the_elided_columns_named():
    text = (BUFINFO_HEAD + "8294400  ...  ...  ...  system  00012345 gralloc:SurfaceView\n" + KERNEL_ROW
            + "00008192  ...  ...  ...  qcom,system  00012346  camera preview buf\n"
            + "\nTotal 3 objects, 8306688 bytes\n")
    snap = snap_of(text)
    b = snap.buffers["ino:12345"]
    assert (b.size, b.exporter, b.name, b.count) == (8294400, "system", "gralloc:SurfaceView", None)
    assert snap.buffers["ino:12346"].name == "camera preview buf"
    assert snap.buffers["ino:77"].name == "foo"          # the kernel's own rows still read, unchanged
    msg = [p.message for p in snap.problems if "condensed" in p.message]
    assert msg and "2 rows" in msg[0] and "elided: count, flags, mode" in msg[0]


def test_a_condensed_row_that_does_not_line_up_is_not_guessed():
    text = BUFINFO_HEAD + "8294400 ... system 00012345 gralloc:SurfaceView\n" + KERNEL_ROW
    snap = snap_of(text)
    assert set(snap.buffers) == {"ino:77"}
    assert not any("condensed" in p.message for p in snap.problems)
    assert snap.problems                                      # skipped by bufinfo's parser, and said


def test_condensed_dmabuf_dump_rows():
    text = ("    surfaceflinger:612\n"
            "                  Name              Rss              Pss         nr_procs            Inode\n"
            "          gralloc buf   8100 kB   ...   ...   153388\n"
            "             <unknown>   ...   ...   2   153387\n"
            "         PROCESS TOTAL          8100 kB          4050 kB\n----------------------\n"
            "dmabuf total: 8100 kB kernel_rss: 0 kB userspace_rss: 8100 kB userspace_pss: 4050 kB\n")
    snap = snap_of(text)
    b = snap.buffers["ino:153388"]
    assert (b.size, b.name, set(b.holders)) == (8100 * 1024, "gralloc buf", {612})
    assert "ino:153387" not in snap.buffers                 # no Rss left: its size is not known
    assert any("elided: Pss, nr_procs" in p.message for p in snap.problems)
    assert snap.processes[612].reported["dmabuf_dump.rss"] == 8100 * 1024


def test_analyze_of_meminfo_heads_with_what_meminfo_says(tmp_path, capsys):
    assert cli.main(["analyze", str(BR_DATA / "meminfo.txt")]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("dumpsys meminfo: DMA-BUF 85.6 MiB · mapped 72.0 MiB") and "GPU 297.0 MiB" in first
    assert "0 buffers" not in out and "device ·" not in out


def test_analyze_of_dmabuf_dump_heads_with_its_totals(capsys):
    assert cli.main(["analyze", str(BR_DATA / "dmabuf_dump.txt")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("dmabuf_dump: dmabuf total 85.6 MiB · kernel_rss 16.2 MiB")
    assert first.endswith("10 buffers held by 7 processes")


def test_a_headerless_app_excerpt_of_meminfo_is_read(capsys):
    text = ("                   Pss  Private  Private  SwapPss     Heap     Heap     Heap\n"
            "                 Total    Dirty    Clean    Dirty     Size    Alloc     Free\n"
            "                ------   ------   ------   ------   ------   ------   ------\n"
            "       EGL mtrack    98460    98460        0        0\n"
            "        GL mtrack      ...      ...      ...\n")
    snap = snap_of(text)
    assert snap.reported["meminfo.egl_mtrack"] == 98460 * 1024
    assert any("Pss Total, Private Dirty, Private Clean elided" in p.message for p in snap.problems)


def test_one_key_per_fact_whoever_read_the_text(tmp_path):
    br = BugreportSource(str(make_bugreport_zip(tmp_path / "b.zip")), rules=load_rules()).collect().snapshot
    pasted = snap_of((BR_DATA / "dmabuf_dump.txt").read_text())
    for pid, p in pasted.processes.items():
        assert {k: v for k, v in p.reported.items() if k.startswith("dmabuf_dump")} == \
            {k: v for k, v in br.processes[pid].reported.items() if k.startswith("dmabuf_dump")}
    for k in ("dmabuf_dump.total", "dmabuf_dump.kernel_rss", "dmabuf_dump.userspace_rss"):
        assert pasted.reported[k] == br.reported[k]
    gpu = snap_of((BR_DATA / "gpu.txt").read_text())
    assert {k for p in gpu.processes.values() for k in p.reported} <= \
        {k for p in br.processes.values() for k in p.reported}
    assert {k for k in gpu.reported if k.startswith("gpu.")} <= set(br.reported)


_cell = st.sampled_from(["...", "…", "8294400", "00012345", "system", "a\tb", "=cmd()", "<b>x</b>", "-1", ""])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_cell, min_size=1, max_size=9).map("  ".join), max_size=6), st.sampled_from(["bufinfo", "dd"]))
def test_condensed_garbage_never_raises(rows, kind):
    if kind == "bufinfo":
        text = BUFINFO_HEAD + "\n".join(rows) + "\n"
    else:
        text = ("x:1\n                  Name              Rss              Pss         nr_procs            Inode\n"
                + "\n".join(rows) + "\n")
    snap = snap_of(text)
    for b in snap.buffers.values():
        assert b.size is not None and b.size >= 0


def test_random_bytes_are_refused_as_not_text_in_bounded_memory(tmp_path):
    """issue 12 #9: 50 MB of random bytes took 1.2 GB of memory and exited 0; now refused after a
    64 KiB look, exit 2, a small multiple of the input at most."""
    import os
    import subprocess
    import sys
    f = tmp_path / "random.bin"
    f.write_bytes(os.urandom(50_000_000))
    # the child says its own peak: VmHWM belongs to the program it runs (getrusage's maxrss would
    # also count the pytest process it was forked from, before exec)
    probe = ("import runpy, sys\n"
             "sys.argv = ['droidtrack'] + sys.argv[1:]\n"
             "try:\n"
             "    runpy.run_module('droidtrack', run_name='__main__')\n"
             "finally:\n"
             "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
             "    sys.stderr.write('HWM %s\\n' % hwm)\n")
    r = subprocess.run([sys.executable, "-c", probe, "analyze", str(f), "--as", "bufinfo"],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert r.returncode == 2 and "not text" in r.stderr, r.stderr[-2000:]
    hwm_kib = int(r.stderr.rsplit("HWM ", 1)[1].split()[0])
    assert hwm_kib < 300 * 1024            # the file alone is 48 MiB; reading it as text took 1.2 GB


def test_text_with_a_few_bad_bytes_is_still_read():
    from droidtrack.ingest.paste import read_text
    text = read_text(b"size flags mode count exp_name ino\n\xff\xfe 4096 ...\n")
    assert "\\xff" in text


# ---- pasted fdinfo and maps: the collector's feeders (ingest/feed_refs, feed_maps) ---------------
FDINFO = "pos:\t0\nflags:\t02000002\nmnt_id:\t9\nino:\t{ino}\nsize:\t8192\ncount:\t2\nexp_name:\tsystem\nname:\tcam\n"
MAPS = ("7f00000000-7f00001000 rw-s 00000000 00:08 {ino}   /dmabuf:cam\n"
        "7f00002000-7f00003000 r--p 00000000 fd:00 12  /system/lib64/libc.so\n")


def test_pasted_fdinfo_is_fed_as_the_stream_feeds_it():
    snap, _ = analyze([("fdinfo.txt", FDINFO.format(ino=4242).encode())], rules=load_rules(), pid=612)
    b = snap.buffers["ino:4242"]
    assert (b.size, b.exporter, b.name, b.count) == (8192, "system", "cam", 2)
    assert b.holders[612].fds == (-1,) and not b.holders[612].maps          # -1: which fd is not known
    assert not any("no pid known" in p.message for p in snap.problems)


def test_pasted_fdinfo_without_a_pid_lists_the_buffer_without_a_holder_and_says_so():
    snap, _ = analyze([("paste.txt", FDINFO.format(ino=4242).encode())], rules=load_rules())
    assert snap.buffers["ino:4242"].holders == {} and snap.buffers["ino:4242"].size == 8192
    assert any("no pid known for this fdinfo" in p.message for p in snap.problems)
    noino = FDINFO.replace("ino:\t{ino}\n", "")
    snap, _ = analyze([("paste.txt", noino.encode())], rules=load_rules())
    assert snap.buffers == {}
    assert any("1 without an inode could not be placed" in p.message for p in snap.problems)


def test_pasted_fdinfo_without_an_inode_joins_a_pasted_bufinfo_row_it_alone_fits():
    """5.4-era fdinfo (no ino:) is joined as the stream joins it: to the one buffer of a complete
    kernel list with its size, exporter and name (it used to be a second, anonymous buffer)."""
    bufinfo = (BUFINFO_HEAD + "00008192\t00000002\t00080005\t00000002\tsystem\t00000099\tcam\n"
               "\tAttached Devices:\nTotal 0 devices attached\n\nTotal 1 objects, 8192 bytes\n")
    noino = FDINFO.replace("ino:\t{ino}\n", "")
    snap, _ = analyze([("bufinfo.txt", bufinfo.encode()), ("fdinfo.txt", noino.encode())], rules=load_rules(),
                      pid=612)
    assert set(snap.buffers) == {"ino:99"} and snap.buffers["ino:99"].holders[612].fds == (-1,)


def test_pasted_maps_is_fed_as_the_stream_feeds_it():
    snap, _ = analyze([("maps.txt", ("# cat /proc/700/maps\n" + MAPS).format(ino=55).encode())], rules=load_rules())
    b = snap.buffers["ino:55"]
    assert b.name == "cam" and b.size == 4096 and "lower bound" in b.provenance["size"]
    [m] = b.holders[700].maps
    assert (m.start, m.end, m.perms) == (0x7f00000000, 0x7f00001000, "rw-s")
    snap, _ = analyze([("paste.txt", MAPS.format(ino=55).encode())], rules=load_rules())
    assert snap.buffers["ino:55"].holders == {}
    assert any("no pid known for this maps" in p.message for p in snap.problems)
