"""End to end: `droidtrack top --demo` as the CLI builds it (the adb source over a real adb
server and the device double with its leaking camera app), driven by Pilot."""
from __future__ import annotations

import argparse
import os

import pytest

from droidtrack.sources import source_from_args
from droidtrack.tui.app import TopApp
from droidtrack.tui.views.buffer_holders import BufferScreen
from droidtrack.tui.views.process_buffers import ProcessScreen

from tuihelp import until

pytestmark = [pytest.mark.adb, pytest.mark.slow]


def _demo_source():
    from droidtrack.commands import top
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    top.register(sub)
    args = p.parse_args(["top", "--demo", "-n", "0.5"])
    try:
        return source_from_args(args), args
    except Exception as e:  # no namespaces here: the double cannot run
        pytest.skip(f"demo device unavailable: {e}")


@pytest.mark.skipif(os.name != "posix", reason="the device double needs Linux")
async def test_top_on_the_demo_device(tmp_path):
    src, args = _demo_source()
    app = TopApp(src, interval=args.interval, save_dir=tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        pane = app.pane
        await until(pilot, lambda: pane.frames_applied >= 3, timeout=60)
        f = pane.frame
        assert pane.state == "live" and pane.error is None
        assert f.snapshot.device.model == "Pixel Demo"
        header = pane.query_one("#header").render().plain
        assert "Pixel Demo" in header and "● live" in header
        rows = f.rows["process"]
        cam = next(r for r in rows.values() if r.name == "com.example.camera")
        assert cam.delta is not None and cam.delta > 0          # the leak, since the first sample
        assert cam.fd_only > 0
        # the processes table shows it; Enter opens its buffers, then one buffer
        t = pane.query_one("#proc_table")
        await pilot.press("slash", *"example.camera", "enter")
        assert t.keys() == [cam.key]
        await pilot.press("enter")
        assert isinstance(app.screen, ProcessScreen)
        bt = app.screen.query_one("#buf_table")
        assert bt.row_count >= cam.count - 2
        await pilot.press("enter")
        assert isinstance(app.screen, BufferScreen)
        assert "by rule" in app.screen.query_one("#binfo").render().plain
        await pilot.press("escape", "escape", "escape")
        # the leak view lists the camera app; the coverage bar says what was read
        await pilot.press("4")
        await until(pilot, lambda: any(p.name == "com.example.camera" for p in pane.frame.leak_procs),
                    timeout=30)
        assert "coverage" in pane.query_one("#coverage").render().plain
        # the owners view: the camera app is charged its leak, which the provider and SurfaceFlinger hold too
        await pilot.press("5")
        await until(pilot, lambda: (pane.frame.owners.get("o:com.example.camera").delta or 0) > 0, timeout=30)
        own = pane.frame.owners["o:com.example.camera"]
        assert own.delta > 0 and own.held_by.startswith("self, camera.provider")
        assert pane.query_one("#owner_table").keys()[0] == "o:com.example.camera"
        # a capture of the live stream can be saved and is the collector's framed stream
        await pilot.press("s")
        saved = list(tmp_path.glob("*.dtc"))
        assert len(saved) == 1 and b" HDR v=2 proc=" in saved[0].read_bytes()[:200]
