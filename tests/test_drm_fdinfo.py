"""DRM fdinfo client memory (parse/drm_fdinfo.py) on text written from the kernel's documented
format (Documentation/gpu/drm-usage-stats.rst), well-formed and hostile."""
from __future__ import annotations

from droidtrack.parse import drm_fdinfo

# an fdinfo as a driver printing memory stats writes it (values made up, keys as documented)
GOOD = ("pos:\t0\nflags:\t02100002\nmnt_id:\t24\nino:\t1055\n"
        "drm-driver:\ti915\ndrm-client-id:\t7\ndrm-pdev:\t0000:00:02.0\n"
        "drm-engine-render:\t9288864723 ns\ndrm-total-system0:\t12 MiB\ndrm-shared-system0:\t4 MiB\n"
        "drm-resident-system0:\t12 MiB\ndrm-purgeable-system0:\t0\ndrm-active-system0:\t1024 KiB\n"
        "drm-total-local0:\t8192\n")


def test_documented_format():
    c, probs = drm_fdinfo.parse(GOOD)
    assert probs == [] and c is not None
    assert (c.driver, c.client_id, c.pdev) == ("i915", 7, "0000:00:02.0")
    assert c.memory == {"system0": {"total": 12 << 20, "shared": 4 << 20, "resident": 12 << 20,
                                    "purgeable": 0, "active": 1 << 20},
                        "local0": {"total": 8192}}
    assert c.sum("total") == (12 << 20) + 8192


def test_not_a_drm_file():
    assert drm_fdinfo.parse("pos:\t0\nflags:\t02\nsize:\t4096\nexp_name:\tsystem\n") == (None, [])
    assert drm_fdinfo.parse("") == (None, [])


def test_legacy_memory_key_is_resident():
    c, probs = drm_fdinfo.parse("drm-driver:\tamdgpu\ndrm-client-id:\t3\ndrm-memory-vram:\t100 KiB\n")
    assert c.memory == {"vram": {"resident": 100 * 1024}} and probs == []


def test_hostile_lines_are_skipped_and_said():
    text = ("drm-driver:\tvgem\ndrm-client-id:\tx7\ndrm-total-system:\t12 GiB\ndrm-total-sys tem:\t1\n"
            "drm-shared-system:\t99999999999999999999 MiB\ndrm-resident-system:\t-5\ndrm-nocolon\n"
            "drm-driver:\tforged\ndrm-active-system:\t4096\n" + "drm-x:\t1\n" * 5000)
    c, probs = drm_fdinfo.parse(text)
    assert c.driver == "vgem" and c.client_id is None
    assert c.memory == {"system": {"active": 4096}}
    msgs = " | ".join(p.message for p in probs)
    for want in ("client-id", "KiB or MiB", "odd region", "2**64", "without a colon", "twice", "lines"):
        assert want in msgs, want


def test_per_process_counts_each_client_once_and_private_excludes_prime_shared():
    a, _ = drm_fdinfo.parse(GOOD)
    dup, _ = drm_fdinfo.parse(GOOD)                      # the same client through a dup'd fd
    other, _ = drm_fdinfo.parse(GOOD.replace("drm-client-id:\t7", "drm-client-id:\t8"))
    noid, _ = drm_fdinfo.parse("drm-driver:\tvgem\ndrm-total-system:\t4096\n")
    rep = drm_fdinfo.per_process([(100, a), (100, dup), (100, other), (200, a), (300, noid), (300, noid)])
    one = (12 << 20) + 8192
    assert rep[100]["gpu.drm.total"] == 2 * one and rep[100]["gpu.drm.clients"] == 2
    # shared objects are PRIME-exported/imported dma-bufs, counted with the dma-bufs: not private
    assert rep[100]["gpu.drm.private"] == 2 * (one - (4 << 20))
    assert rep[200]["gpu.drm.total"] == one          # a client passed to another process: there too
    assert rep[300]["gpu.drm.clients"] == 2 and rep[300]["gpu.drm.total"] == 8192


# ---- through the collector (real mksh+toybox and busybox) and droidtrack ------------------------

import os  # noqa: E402

import pytest  # noqa: E402

from collector_support import TOKEN, new_root, run_collector  # noqa: E402
from droidtrack.ingest.stream import snapshot_from_stream  # noqa: E402
from droidtrack.sim.synth import DeviceTree  # noqa: E402


@pytest.mark.parametrize("shell", ["mksh-static+toybox", "busybox"])
def test_gpu_memory_per_process_beside_dma_bufs(shell):
    t = DeviceTree("a17-7.3")
    t.add_process(500, "surfaceflinger", ("/system/bin/surfaceflinger",), uid=1000)
    t.add_process(600, "com.example.game", ("com.example.game",), uid=10100)
    g = t.add_buffer(8294400, "system", "gralloc")   # a PRIME-shared buffer, counted as a dma-buf
    t.hold_fd(500, g)
    t.hold_fd(600, g)
    root = new_root("drm")
    t.write(root)
    # two fds of one DRM client in the game (dup), one client in surfaceflinger
    game = GOOD.replace("drm-client-id:\t7", "drm-client-id:\t9")
    for pid, fd, text in ((600, 40, game), (600, 41, game), (500, 30, GOOD)):
        os.symlink("/dev/dri/renderD128", root / f"proc/{pid}/fd/{fd}")
        (root / f"proc/{pid}/fdinfo/{fd}").write_text(text)
    run = run_collector(root, shell)
    assert run.rc == 0 and run.fr.complete
    snap = snapshot_from_stream(run.stdout, token=TOKEN, time=0.0)
    one = (12 << 20) + 8192
    rg, rs = snap.processes[600].reported, snap.processes[500].reported
    assert rg["gpu.drm.total"] == one and rg["gpu.drm.clients"] == 1
    assert rg["gpu.drm.private"] == one - (4 << 20) and rg["gpu.drm.shared"] == 4 << 20
    assert rs["gpu.drm.clients"] == 1
    # the DRM fds are not dma-bufs: the buffers and their holders are as before
    assert [(b.size, sorted(b.holders)) for b in snap.buffers.values()] == [(8294400, [500, 600])]
    assert snap.problems == () and snap.sources["drm_fdinfo"].status == "ok"
