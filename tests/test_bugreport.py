"""droidtrack.sources.bugreport: dumpstate sections -> one Snapshot, from a zip assembled from
realistic sections (tests/data/bugreport/)."""
from __future__ import annotations

import json
import zipfile

import pytest
from hypothesis import given, settings, strategies as st

from droidtrack import cli
from droidtrack.model.account import account
from droidtrack.sources import SourceError
from droidtrack.sources.bugreport import BugreportSource, build_snapshot, read_bugreport
from droidtrack.sources.dumpstate_text import split_sections
from droidtrack.model.tags import load_rules
from report_helpers import BR_MAIN, bugreport_text, make_bugreport_zip

KIB = 1024
TOTAL = 89706496


def snap_of(path):
    return BugreportSource(str(path), rules=load_rules()).collect().snapshot


@pytest.fixture
def full(tmp_path):
    return make_bugreport_zip(tmp_path / "bugreport.zip")


def test_sections_are_split_as_dumpstate_prints_them():
    secs = split_sections(bugreport_text(), "main.txt")
    by = {(s.title, s.source): s for s in secs}
    dd = by[("Dmabuf dump", "dmabuf_dump")]
    assert dd.text.startswith(" allocator@4.0-s:540")
    assert dd.text.rstrip().endswith("userspace_pss: 70963 kB")     # the duration footer is not content
    assert by[("Dmabuf per-buffer/per-exporter/per-device stats", "dmabuf_dump -b")].text.count(" | ") > 12
    high = by[("DUMPSYS HIGH", "/system/bin/dumpsys")]
    assert set(high.services) == {"meminfo", "connectivity"}
    mi = high.services["meminfo"]
    assert mi.startswith("Applications Memory Usage") and "was the duration" not in mi
    assert mi.rstrip().endswith("(high-end-gfx)")
    assert set(by[("DUMPSYS", "/system/bin/dumpsys")].services) == {"gpu", "window"}
    assert by[("MEMORY INFO", "/proc/meminfo")].path == "/proc/meminfo"
    # a banner ends a section too
    assert "Android Framework Services" not in by[("SYSTEM PROPERTIES", "getprop")].text


def test_header_mtime_is_not_part_of_the_path():
    (s,) = split_sections("------ ANR FILES (/data/anr/anr_1: 2024-03-14 09:20:00) ------\nx\n")
    assert s.path == "/data/anr/anr_1" and s.text == "x\n"


def test_full_bugreport_builds_the_whole_device(full):
    snap = snap_of(full)
    acc = account(snap)
    assert len(snap.buffers) == 12
    assert acc.totals.bytes == TOTAL == snap.reported["bufinfo.total"] == snap.reported["sysfs.total"]
    assert snap.reported["dmabuf_dump.total"] == TOTAL == snap.reported["dumpsys.dmabuf"]
    # sizes are the exact bytes of bufinfo / sysfs, not dmabuf_dump's whole kB
    assert snap.buffers["ino:1310"].size == 12443648
    assert snap.buffers["ino:1310"].provenance["size"] in ("sysfs", "bufinfo")
    # holders from dmabuf_dump, fd vs mapping unknown
    cam = snap.buffers["ino:1310"]
    assert set(cam.holders) == {988, 1020, 4311}
    assert all(h.by == "unknown" and not h.fds and not h.maps for h in cam.holders.values())
    assert "fd or mapping not known" in cam.provenance["holders"]
    assert cam.name == "CAMERA" and cam.exporter == "system" and cam.tag == "camera"
    assert cam.attached == ("1a840000.lwis_csi",)
    assert snap.buffers["ino:1401"].name == "<img src=x onerror=alert(1)>"
    # kernel-only: in the kernel's lists, held by nobody, and dmabuf_dump saw every process
    assert set(acc.totals.kernel_only_buffers) == {"ino:1600", "ino:1601"}
    assert acc.totals.kernel_only == 16777216 + 262144 == snap.reported["dmabuf_dump.kernel_rss"]
    assert acc.totals.unattributed == 0
    # per-process numbers agree with what dmabuf_dump printed (its PSS is kB-truncated per row)
    assert acc.processes[4311].rss == snap.processes[4311].reported["dmabuf_dump.rss"]
    assert acc.totals.sum_rss == snap.reported["dmabuf_dump.userspace_rss"]
    assert 0 <= acc.totals.sum_pss - snap.reported["dmabuf_dump.userspace_pss"] < 20 * KIB
    assert acc.totals.fd_only == 0 and acc.totals.mapped == 0       # not known, so not claimed
    # processes: comm from dmabuf_dump, app names from meminfo's "Total PSS by process"
    assert snap.processes[4311].cmdline == ("com.google.android.GoogleCamera",)
    assert snap.processes[4311].name == "id.GoogleCamera"
    assert snap.processes[5100].name == "<i>evil</i>" and snap.processes[5100].package == "com.example.evil"
    assert snap.processes[988].cmdline == ()       # a native daemon: not mistaken for a package
    assert snap.processes[4311].reported["gpu_mem.total"] == 240271360
    # device and time
    d = snap.device
    assert (d.model, d.manufacturer, d.release, d.sdk) == ("Pixel 7", "Google", "14", 34)
    assert d.fingerprint == "google/panther/panther:14/UQ1A.240205.004/11269751:user/release-keys"
    assert d.kernel == "5.10.198-android13-4-00050-g12f3388b2f4e-ab11208302"
    assert d.serial == "28071FDH2000WZ"
    assert snap.time == 1710404813.0           # 2024-03-14 09:26:53 Europe/Berlin
    assert snap.origin == "bugreport:bugreport.zip"
    st_ = {k: v.status for k, v in snap.sources.items()}
    assert st_ == {"props": "ok", "bufinfo": "ok", "dmabuf_dump_b": "ok", "dmabuf_dump": "ok",
                   "dmaprocs": "missing", "dumpsys_meminfo": "ok", "dumpsys_gpu": "ok",
                   "dumpsys_surfaceflinger": "missing"}
    assert "No such file" in snap.sources["dmaprocs"].detail
    assert any("fd or by mapping" in p.message for p in snap.problems)


def test_failed_dmabuf_dump_leaves_buffers_unattributed_not_kernel_only(tmp_path):
    snap = snap_of(make_bugreport_zip(tmp_path / "b.zip", dmabuf_dump="failed"))
    acc = account(snap)
    assert snap.sources["dmabuf_dump"].status == "error"
    assert "exit code 1" in snap.sources["dmabuf_dump"].detail
    assert acc.totals.bytes == TOTAL and acc.totals.userspace == 0
    assert acc.totals.kernel_only == 0 and acc.totals.unattributed == TOTAL
    assert any("no per-process dma-buf data" in p.message for p in snap.problems)


def test_without_kernel_lists_buffers_come_from_dmabuf_dump(tmp_path):
    snap = snap_of(make_bugreport_zip(tmp_path / "b.zip", bufinfo=False, dmabuf_dump_b=False))
    assert snap.sources["bufinfo"].status == "missing" and snap.sources["dmabuf_dump_b"].status == "missing"
    assert len(snap.buffers) == 10                   # the 10 held buffers; kernel-only ones are unknown
    b = snap.buffers["ino:1201"]
    assert b.size == 8100 * KIB and "whole kB" in b.provenance["size"]
    assert b.exporter is None
    assert account(snap).totals.kernel_only == 0
    assert snap.reported["dmabuf_dump.kernel_rss"] == 16640 * KIB      # still reported by the tool


def test_missing_sections_are_listed(tmp_path):
    snap = snap_of(make_bugreport_zip(tmp_path / "b.zip", meminfo=False, gpu=False, getprop=False))
    assert snap.sources["dumpsys_meminfo"].status == "missing"
    assert snap.sources["dumpsys_gpu"].status == "missing"
    assert snap.sources["props"].status == "missing"
    assert snap.device.model is None
    assert snap.device.fingerprint.startswith("google/panther")     # from the dumpstate header
    assert any("time zone is unknown" in p.message for p in snap.problems)
    assert snap.processes[4311].cmdline == ()


def test_plain_text_bugreport(tmp_path):
    p = tmp_path / "bugreport.txt"
    p.write_text(bugreport_text(), encoding="utf-8")
    snap = snap_of(p)
    assert len(snap.buffers) == 12 and snap.sources["bufinfo"].status == "missing"


def test_a_forged_section_header_is_noticed(tmp_path):
    text = bugreport_text().replace("------ PSI cpu", "------ Dmabuf dump (dmabuf_dump) ------\n"
                                    "  fake:1\n------ PSI cpu", 1)
    p = tmp_path / "bugreport.txt"
    p.write_text(text, encoding="utf-8")
    snap = snap_of(p)
    assert any("2 sections look like dmabuf_dump" in pr.message for pr in snap.problems)


@pytest.mark.parametrize("content", [b"", b"not a zip at all\n", b"PK\x03\x04broken"])
def test_not_a_bugreport_is_a_source_error(tmp_path, content):
    p = tmp_path / "x.zip"
    p.write_bytes(content)
    with pytest.raises(SourceError):
        read_bugreport(str(p))


def test_zip_without_dumpstate_text(tmp_path):
    p = tmp_path / "x.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("photo.jpg", b"\xff\xd8")
    with pytest.raises(SourceError, match="no dumpstate text"):
        read_bugreport(str(p))


def test_main_entry_is_followed(tmp_path):
    p = make_bugreport_zip(tmp_path / "b.zip")
    br = read_bugreport(str(p))
    assert br.main == BR_MAIN and "Build fingerprint" in br.header
    assert {s.entry for s in br.sections} == {BR_MAIN, "dumpstate_board.txt"}


@given(st.text(alphabet=st.sampled_from(list("-( )DUMPOF SERVICE:\n=abc*/'0123456789.s")), max_size=400))
@settings(max_examples=200, deadline=None)
def test_splitting_never_raises(text):
    for s in split_sections(text):
        assert s.text is not None


@given(st.lists(st.sampled_from(["dmabuf_dump", "dmabuf_dump -b", "/d/dma_buf/bufinfo", "getprop",
                                 "/d/dma_buf/dmaprocs"]), max_size=5),
       st.text(max_size=300))
@settings(max_examples=40, deadline=None)
def test_building_never_raises_on_garbage_sections(tmp_path_factory, sources, body):
    text = "".join(f"------ T ({s}) ------\n{body}\n" for s in sources) or "------ X (y) ------\n"
    p = tmp_path_factory.mktemp("br") / "b.txt"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    snap = build_snapshot(read_bugreport(str(p)), load_rules())
    account(snap)


# ---- the commands ------------------------------------------------------------------------------

def test_snapshot_command_reads_a_bugreport(full, tmp_path, capsys):
    out = tmp_path / "s.json"
    assert cli.main(["snapshot", "--bugreport", str(full), "--format", "json", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["totals"]["bytes"] == TOTAL and doc["origin"] == "bugreport:bugreport.zip"


def test_report_command_on_a_bugreport(full, tmp_path, capsys):
    out = tmp_path / "report.zip"
    assert cli.main(["report", "--bugreport", str(full), "-o", str(out)]) == 0
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        raw = z.read("raw/bugreport-sections.txt").decode()
        summary = z.read("summary.md").decode()
    assert {"report.html", "summary.md", "snapshot.json", "provenance.json"} <= names
    assert "------ Dmabuf dump (dmabuf_dump) ------" in raw and "DUMP OF SERVICE meminfo" in raw
    assert "cannot tell fd from mapping" in summary
    assert "| fd-only (in no RSS) | not known" in summary      # not claimed as 0 B
    assert "wrote" in capsys.readouterr().out


def test_report_command_bad_input_exits_2(tmp_path, capsys):
    assert cli.main(["report", "--bugreport", str(tmp_path / "missing.zip"), "-o", str(tmp_path / "r.zip")]) == 2
    assert "cannot read bugreport" in capsys.readouterr().err
    assert not (tmp_path / "r.zip").exists()


def test_ion_debugfs_sections_are_read_by_the_ion_feeder(tmp_path):
    heap = ("          client              pid             size\n"
            "----------------------------------------------------\n"
            "  surfaceflinger              612          8294400\n"
            "----------------------------------------------------\n"
            "orphaned allocations (info is from last known client):\n"
            "----------------------------------------------------\n"
            "  total orphaned                0\n"
            "          total           8294400\n"
            "----------------------------------------------------\n")
    text = bugreport_text().replace("------ PSI cpu", "------ ION HEAPS (/sys/kernel/debug/ion/heaps/system) ------\n"
                                    + heap + "------ PSI cpu", 1)
    p = tmp_path / "bugreport.txt"
    p.write_text(text, encoding="utf-8")
    snap = snap_of(p)
    assert snap.reported["ion.system.total"] == 8294400 == snap.reported["ion.debugfs.total"]
    assert snap.processes[612].reported["ion.system"] == 8294400
    assert snap.sources["ion_debugfs"].status == "ok"
