"""DMA-BUF sysfs stats read from the collector's `files` section (grep -r -H)."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from droidtrack.parse import sysfs_stats
from droidtrack.parse.grepout import split_grep

B = "/sys/kernel/dmabuf/buffers"


def _tree(root, bufs):
    for ino, files in bufs.items():
        for rel, content in files.items():
            p = os.path.join(root + B, str(ino), rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(content)


@pytest.mark.parametrize("grep", [["toybox", "grep"], ["grep"]])
def test_real_grep_r_over_a_tree_mixed_with_other_files(tmp_path, grep):
    if shutil.which(grep[0]) is None:
        pytest.skip(f"{grep[0]} missing")
    root = str(tmp_path / "dev root")
    _tree(root, {12: {"size": "4096\n", "exporter_name": "system\n", "mmap_count": "1\n"},
                 13: {"size": "8192\n", "exporter_name": "qcom,system\n", "attachments/1/map_counter": "2\n",
                      "attachments/0/map_counter": "0\n"}})
    os.makedirs(root + "/proc/55")
    with open(root + "/proc/55/oom_score_adj", "w") as f:
        f.write("-900\n")
    r = subprocess.run(grep + ["-r", "-H", "-a", "", root + B, root + "/proc/55/oom_score_adj"],
                       capture_output=True, check=True)
    res = sysfs_stats.parse_text(r.stdout.decode(), root)
    assert res.problems == []
    got = sorted((b.inode, b.size, b.exporter, b.mmap_count, b.attachments) for b in res.records)
    assert got == [(12, 4096, "system", 1, ()), (13, 8192, "qcom,system", None, ((0, 0), (1, 2)))]


def test_parse_takes_demuxed_tuples_and_reports_bad_shapes():
    text = (f"{B}/7/size:100\n{B}/7/size:200\n{B}/x/size:1\n{B}/8/size:big\n{B}/8/exporter_name:a b:c\n"
            "/proc/meminfo:MemTotal: 1 kB\n")
    res = sysfs_stats.parse(split_grep(text, ""))
    assert sorted((b.inode, b.size, b.exporter) for b in res.records) == [(7, 100, None), (8, None, "a b:c")]
    assert len(res.problems) == 3


@settings(max_examples=200, deadline=None)
@given(st.text(), st.sampled_from(["", "/r"]))
def test_arbitrary_text_never_raises(text, root):
    sysfs_stats.parse_text(text, root)
    sysfs_stats.parse_text(f"{root}{B}/1/" + text, root)


_exp = st.text(st.characters(blacklist_characters="\n\r\x00", blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.integers(0, 2**64), st.tuples(st.integers(0, 2**40), _exp), max_size=8))
def test_generated_round_trip(bufs):
    text = "".join(f"/r{B}/{i}/size:{s}\n/r{B}/{i}/exporter_name:{e}\n" for i, (s, e) in bufs.items())
    res = sysfs_stats.parse_text(text, "/r")
    assert {b.inode: (b.size, b.exporter) for b in res.records} == bufs and res.problems == []


# ---- block(): the pipeline's one-run read, only where split_grep + parse would agree -----------
def block_agrees(text: str, root: str) -> bool:
    """block() is None, or: no buffers/ line outside its run, and parse() of the run's lines gives
    its inodes, sizes and exporters, in order, with nothing to say."""
    blk = sysfs_stats.block(text, root)
    if blk is None:
        return False
    start, end, t = blk
    outside = list(split_grep(text[:start], root)) + list(split_grep(text[end:], root))
    assert not [t for t in outside if t[1].startswith(B + "/")]
    inside = list(split_grep(text[start:end], root))
    assert len(inside) == text[start:end].count("\n") and all(t[1].startswith(B + "/") for t in inside)
    res = sysfs_stats.parse(inside)
    assert res.problems == []
    assert sysfs_stats.table(res) == t
    return True


def test_block_of_a_kernel_shaped_section():
    lines = ["/r/proc/1/oom_score_adj:0"] + [f"/r{B}/{i}/{a}" for i in (7, 12, 9) for a in
                                               ("exporter_name:system", "size:4096", "mmap_count:0")]
    text = "\n".join(lines + ["/r/proc/meminfo:MemTotal: 1 kB"]) + "\n"
    assert block_agrees(text, "/r")
    assert sysfs_stats.block(text, "/r")[2].inodes == [7, 12, 9]
    for odd in (f"/r{B}/07/size:1", f"/r{B}/8/size: 1", f"/r{B}/8/size:-1", f"/r{B}/8/attachments/0/map_counter:1",
                f"/r{B}/7/size:8", f"/r{B}/8/uevent:x", f"/r{B}/8/size", "/r/proc/1/oom_score_adj:0"):
        assert not block_agrees(text.replace("/r/proc/meminfo", odd + "\n/r/proc/meminfo")
                                .replace(f"/r{B}/12/size", odd + f"\n/r{B}/12/size"), "/r"), odd
    assert not block_agrees(f"/r{B}/1/size:1\n/r{B}/1/exporter_name:system", "/r")     # cut: no newline
    assert not block_agrees(f"x/r{B}/1/size:1\n", "/r")
    assert sysfs_stats.block("/r/proc/1/oom_score_adj:0\n", "/r") is None


_line = st.one_of(
    st.tuples(st.sampled_from(["0", "1", "7", "12", "007"]),
              st.sampled_from(["size", "exporter_name", "mmap_count", "attachments/0/map_counter", "x"]),
              st.sampled_from(["4096", "", "system", "-1", " 5", "１"])).map(lambda t: f"/r{B}/{t[0]}/{t[1]}:{t[2]}"),
    st.sampled_from(["/r/proc/1/oom_score_adj:0", "/r/proc/mounts:sysfs /sys/kernel/dmabuf/buffers/1/size:1", "",
                     "garbage", f"{B}/1/size:1", f"/r{B}/1/size"]))


@settings(max_examples=500, deadline=None)
@given(st.lists(_line, max_size=12), st.booleans())
def test_block_never_disagrees_with_parse(lines, newline):
    block_agrees("\n".join(lines) + ("\n" if newline else ""), "/r")
