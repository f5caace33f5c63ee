"""Every parser's fast path against its line-by-line path, at the level that matters: the snapshot.

DROIDTRACK_SLOW_PATHS=1 (parse/_lines.slow_paths) sends every parser and every feeder through
its slow path. The same stream must give byte-identical snapshot JSON both ways, for:
- every committed fixture (fixtures/*, through the real collector under mksh+toybox),
- every real-kernel capture (tests/realkernel/captures),
- a hostile corpus made here: phones whose names hold tabs, newlines, escapes and markup, their
  streams cut at many points, with garbage lines, forged rows and invalid UTF-8 put into them, and
  the same sections as a v1 stream.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from collector_support import TOKEN, collected, copy_tree, random_phone, run_collector
from droidtrack.collect import frames
from droidtrack.ingest.stream import snapshot_from_stream
from droidtrack.model.account import account
from droidtrack.parse._lines import SLOW_PATHS_ENV
from droidtrack.model import schema
from droidtrack.sim.synth import GENERATIONS, DeviceTree

REPO = Path(__file__).resolve().parent.parent
CAPTURES = sorted((REPO / "tests" / "realkernel" / "captures").glob("*.capture"))


def both_ways(data: bytes, monkeypatch, token: str | None = None) -> tuple[str, str]:
    out = []
    for slow in ("0", "1"):
        monkeypatch.setenv(SLOW_PATHS_ENV, slow)
        snap = snapshot_from_stream(data, token=token, time=0.0, origin="x")
        out.append(json.dumps(schema.to_dict(snap, account(snap)), sort_keys=True, indent=1))
    monkeypatch.delenv(SLOW_PATHS_ENV)
    return out[0], out[1]


def assert_same(data: bytes, monkeypatch, token: str | None = None, what: str = "") -> dict:
    fast, slow = both_ways(data, monkeypatch, token)
    assert fast == slow, what
    return json.loads(fast)


@pytest.mark.parametrize("gen", [g for g in GENERATIONS if g != "a15-6.6"] + ["a15-6.6"])
def test_every_fixture(gen, monkeypatch):
    root = copy_tree(REPO / "fixtures" / gen, f"fs-{gen}")
    run = run_collector(root, "mksh-static+toybox")
    assert run.rc == 0, run.stderr
    d = assert_same(run.stdout, monkeypatch, TOKEN, gen)
    assert d["buffers"]


@pytest.mark.parametrize("cap", CAPTURES, ids=[c.name for c in CAPTURES])
def test_every_real_kernel_capture(cap, monkeypatch):
    d = assert_same(cap.read_bytes(), monkeypatch, what=cap.name)
    assert d["buffers"]


# ---- the hostile corpus --------------------------------------------------------------------------
NAMES = [None, "gralloc", "a\tb", "\tlead", "two\nlines", "esc\x1b[31m", "[bold]x", "x -> y", "=HYPERLINK(1)",
         "/dmabuf:inner", "Total 1 devices attached", "\\012", "ünï", "sp ace ", "00001048576\t0"]
GARBAGE = [b"garbage line", b"\t\tAttached Devices:", b"Total 3 objects, 5 bytes", b"00004096\t00000002\t00000007",
           b"pos:\t0", b"exp_name:\tforged", b"ino:\t12", b"/proc/1/fd:", b"lrwx------ 1 u u 64 Nov 1 00:00 9 -> /dmabuf:",
           b"7f00000000-7f00001000 rw-s 00000000 00:08 5 /dmabuf:x", b"Rss:  4 kB", b"--", b"\xff\xfe\x80",
           b"==> x <==", b"\x00\x00", b"Name:\tevil", b"Uid:\t0\t0\t0\t0", b" " * 2000]


def _phone(generation: str, seed: int) -> DeviceTree:
    return random_phone(generation, seed, NAMES, processes=10, buffers=30, refs=60,
                        comms=["app", "a\tb", "sp ace", "x\ny", "esc\x1b"],
                        exporters=("system",) if generation == "a9-4.9" else ("system", "my\texp", "qcom,ion"))


def _mutants(data: bytes, seed: int, n: int):
    rnd = random.Random(seed)
    lines = data.split(b"\n")
    for k in range(n):
        op = k % 3
        if op == 0:                                    # cut anywhere
            yield data[:rnd.randrange(len(data))]
            continue
        ls = list(lines)
        for _ in range(rnd.randint(1, 6)):
            i = rnd.randrange(1, len(ls))
            if ls[i].startswith(b"@@"):
                continue
            if op == 1:                                # garbage lines between lines
                ls.insert(i, rnd.choice(GARBAGE))
            else:                                      # edits inside a line
                s = ls[i]
                p = rnd.randrange(len(s) + 1)
                ls[i] = s[:p] + rnd.choice([b"\t", b" ", b"\\", b"\xc3", b"0", b":", b""]) + s[p + rnd.randint(0, 3):]
        yield b"\n".join(ls)


def _v1(data: bytes) -> bytes:
    """The grep-shaped sections of a decoded stream as a v1 stream (the collector prints v2)."""
    fr = frames.decode(data)
    secs = [s for s in fr.sections.values() if s.form == "grep"]
    return frames.encode(secs, "V1t0ken", fr.root)


@pytest.fixture(scope="module", params=[g for g in GENERATIONS if g != "a15-6.6"])
def hostile_stream(request, tmp_path_factory):
    out = collected(_phone(request.param, seed=len(request.param)), tmp_path_factory.mktemp("hostile") / "root",
                    "T0k3nHostile")
    return request.param, out


def test_hostile_phone_streams(hostile_stream, monkeypatch):
    gen, out = hostile_stream
    assert_same(out, monkeypatch, what=gen)
    assert_same(_v1(out), monkeypatch, what=gen + " as v1")


def test_hostile_mutants(hostile_stream, monkeypatch):
    gen, out = hostile_stream
    for k, m in enumerate(_mutants(out, seed=len(gen), n=24)):
        assert_same(m, monkeypatch, what=f"{gen} mutant {k}")
    for k, m in enumerate(_mutants(_v1(out), seed=len(gen) + 1, n=9)):
        assert_same(m, monkeypatch, what=f"{gen} v1 mutant {k}")


def test_the_switch_really_switches(monkeypatch):
    """The slow path is taken: the fast readers decline under the switch."""
    from droidtrack.parse import bufinfo
    text = ("\nDma-buf Objects:\nsize    \tflags   \tmode    \tcount   \texp_name\tino     \n"
            "00004096\t00000002\t00000007\t00000001\tsystem\t00000005\t\n\tAttached Devices:\n"
            "Total 0 devices attached\n\n\nTotal 1 objects, 4096 bytes\n")
    assert bufinfo.rows(text) is not None
    monkeypatch.setenv(SLOW_PATHS_ENV, "1")
    assert bufinfo.read(text) == bufinfo.table(bufinfo.parse(text))
    from droidtrack.parse import sysfs_stats
    assert sysfs_stats.block("/sys/kernel/dmabuf/buffers/5/size:4096\n", "") is None
