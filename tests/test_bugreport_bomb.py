"""Issue 12 #1: a bug report zip that inflates to gigabytes is read within a fixed memory budget.

The zip is crafted, not compressed: each 1 GiB entry is one deflate block repeated after full
flushes (so it is built in well under a second), then read by `droidtrack snapshot --bugreport`
in a subprocess that reports its own peak RSS (VmHWM)."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from report_helpers import BR_MAIN, board_text, bugreport_text

GiB = 1 << 30
MiB = 1 << 20
ROOT = Path(__file__).resolve().parent.parent


def _deflate(prefix: bytes, chunk: bytes, n: int) -> tuple[bytes, int, int]:
    """Raw deflate of prefix + chunk * n, with its CRC and size."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    body = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)     # the same bytes after every full flush
    crc = zlib.crc32(prefix)
    for _ in range(n):
        crc = zlib.crc32(chunk, crc)
    return head + body * n + c.flush(), crc, len(prefix) + len(chunk) * n


def _write_zip(path: Path, entries: list[tuple[str, tuple[bytes, int, int]]]) -> None:
    cd = []
    with open(path, "wb") as out:
        for name, (data, crc, size) in entries:
            off, nb = out.tell(), name.encode()
            out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size,
                                  len(nb), 0) + nb + data)
            cd.append(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(data),
                                  size, len(nb), 0, 0, 0, 0, 0, off) + nb)
        start = out.tell()
        out.write(b"".join(cd))
        out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(cd), len(cd), out.tell() - start, start, 0))


def _small(text: str) -> tuple[bytes, int, int]:
    data = text.encode()
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(), zlib.crc32(data), len(data)


def _per(line: bytes) -> bytes:
    return line * (MiB // len(line))


def bomb_zip(path: Path) -> Path:
    rows = _per(b"00004096\t00000002\t00080005\t00000001\tsystem\t00009999\tbomb\n")
    _write_zip(path, [
        ("main_entry.txt", _small(BR_MAIN)),
        (BR_MAIN, _small(bugreport_text())),
        ("dumpstate_board.txt", _small(board_text())),
        # a section droidtrack keeps, 1 GiB long
        ("a/dumpstate_board.txt", _deflate(b"------ BOMB (/sys/kernel/debug/dma_buf/bufinfo) ------\n", rows, 1023)),
        # one line of 1 GiB, a GiB of section headers, a GiB of empty lines
        ("b/dumpstate_board.txt", _deflate(b"", b"x" * MiB, 1023)),
        ("c/dumpstate_board.txt", _deflate(b"", _per(b"------ T (/proc/x) ------\n"), 1023)),
        ("d/dumpstate_board.txt", _deflate(b"", b"\n" * MiB, 1023)),
    ])
    return path


_RUN = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))     # reading it all would need 4 GiB
from droidtrack import cli
rc = cli.main(["snapshot", "--bugreport", sys.argv[1], "--format", "json", "-o", sys.argv[2]])
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(rc, int(hwm) * 1024)
"""


def test_a_zip_bomb_is_read_within_400_mib(tmp_path):
    z = bomb_zip(tmp_path / "bomb.zip")
    assert z.stat().st_size < 20 * MiB
    out = tmp_path / "s.json"
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-c", _RUN, str(z), str(out)], capture_output=True, text=True,
                       timeout=300, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    took = time.monotonic() - t0
    assert p.returncode == 0, p.stderr[-2000:]
    rc, hwm = map(int, p.stdout.split()[-2:])
    assert rc == 0, p.stderr[-2000:]
    assert hwm <= 400 * MiB, f"peak RSS {hwm / MiB:.0f} MiB"
    doc = json.loads(out.read_text())
    msgs = " | ".join(pr["message"] for pr in doc["problems"])
    assert "section 'BOMB' is cut" in msgs
    assert "not read past byte" in msgs            # the inflate budget stopped the later entries
    assert "ino:1310" in {b["key"] for b in doc["buffers"]}     # the real sections are still read
    print(f"bomb: peak RSS {hwm / MiB:.0f} MiB, {took:.1f} s")


# ---- the caps one at a time, on small texts (the module's limits made small) -------------------
from droidtrack.sources import dumpstate_text as dt   # noqa: E402


def _entry(data: bytes, keep=dt.keep_all, **budget):
    import io
    b = dt.Budget(**budget)
    return dt.read_entry(io.BytesIO(data), "e.txt", keep, b, with_header=True), b.problems


def test_too_many_section_lines_stop_the_entry(monkeypatch):
    monkeypatch.setattr(dt, "MAX_MARKS", 50)
    et, probs = _entry(b"------ T (/proc/x) ------\nx\n" * 100)
    assert not et.complete and len(et.sections) == 50
    assert any("more than 50 lines that look like section lines" in p.message for p in probs)


def test_a_huge_line_is_content_not_a_header(monkeypatch):
    monkeypatch.setattr(dt, "SECTION_CAP", 1000)
    data = b"------ A (/proc/a) ------\n" + b"y" * (3 * dt.CHUNK) + b"\n------ B (/proc/b) ------\nb\n"
    et, probs = _entry(data)
    assert [(s.title, len(s.text)) for s in et.sections] == [("A", 1000), ("B", 2)]
    assert et.sections[0].truncated and any("section 'A' is cut at 1000 bytes" in p.message for p in probs)
    assert et.sections[1].line == 3


def test_the_inflate_budget_is_shared(monkeypatch):
    et, probs = _entry(b"------ A (/proc/a) ------\n" + b"z\n" * 5000, scan=1000)
    assert not et.complete and et.read == 1000
    assert any("not read past byte 1000" in p.message for p in probs)


def test_only_kept_sections_and_services_are_stored():
    text = (b"header line\n------ A (/proc/a) ------\na\n------ B (/proc/b) ------\nb\n"
            b"------ DUMPSYS (/system/bin/dumpsys) ------\n" + b"-" * 79 + b"\nDUMP OF SERVICE meminfo:\nm\n"
            + b"-" * 79 + b"\nDUMP OF SERVICE other:\no\n")
    keep = lambda t, s: frozenset({"meminfo"}) if "dumpsys" in s else (True if t == "B" else None)  # noqa: E731
    et, _ = _entry(text, keep)
    assert [(s.title, s.text, s.services) for s in et.sections] == [("B", "b\n", {}), ("DUMPSYS", "", {"meminfo": "m\n"})]
    assert et.header == "header line\n"
