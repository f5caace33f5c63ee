"""The owners view (5) and its drill-down under Pilot: one row per owner with what it is charged,
who holds its buffers and Δ; the buffers of an owner with the rule and why of each; the buffer
drill-down names the owner and why."""
from __future__ import annotations

import dataclasses

from droidtrack.model import Buffer, Holding
from droidtrack.model.owners import infer
from droidtrack.tui.app import TopApp
from droidtrack.tui.views.buffer_holders import BufferScreen
from droidtrack.tui.views.help import HelpScreen
from droidtrack.tui.views.owner_buffers import OwnerScreen

import factory
from factory import EVIL_NAME, MiB
from tuihelp import ListSource, feed, plain_cells, table_keys

SIZE = (130, 40)
CAM = "o:com.example.camera"


def fed(n=4):
    return TopApp(ListSource(factory.series(n)), start=False)


def col(table, key, name):
    return plain_cells(table, key)[[c.key for c in table.cols].index(name)]


async def test_owners_view_charges_each_buffer_once_and_says_who_holds_it():
    app = fed()
    async with app.run_test(size=SIZE) as pilot:
        feed(app, factory.series(4))
        await pilot.press("5")
        pane = app.pane
        assert pane.view == "owners"
        t = pane.query_one("#owner_table")
        assert app.focused is t
        snap = pane.frame.snapshot
        keys = table_keys(t)
        assert keys[0] == CAM                                 # charged the most, sorted biggest first
        assert set(keys) == {CAM, "o:com.android.systemui", "o:com.google.android.youtube", "o:system_server",
                             "kernel", f"o:{EVIL_NAME}"}
        # every byte in exactly one row: the rows add up to the device's unique bytes
        assert sum(t.raw(k)[2] for k in keys) == sum(b.size for b in snap.buffers.values())
        # the camera app: its 7 preview buffers (the provider and its :remote process hold them too)
        assert col(t, CAM, "name") == "com.example.camera"
        assert col(t, CAM, "bytes") == "84.0MiB" and col(t, CAM, "buffers") == "7"
        assert col(t, CAM, "delta") == "+36.0MiB"               # 3 leaked since the first sample
        assert col(t, CAM, "held_by") == "self, camera.provider@2.7"
        assert col(t, CAM, "rule") == "app holder"
        assert col(t, CAM, "pid") == "3100"
        # the framebuffers composer and surfaceflinger share with systemui are systemui's
        assert col(t, "o:com.android.systemui", "held_by").startswith("self, ")
        assert col(t, "kernel", "name") == "kernel (no holder)"
        assert col(t, "kernel", "held_by") == "nobody: kernel-only" and col(t, "kernel", "pid") == "-"
        assert col(t, "kernel", "bytes") == "5.0MiB"
        # a device name is literal text, markup and escapes included
        assert col(t, f"o:{EVIL_NAME}", "name") == "[bold red]pwn\\x1b[31m"
        title = pane.query_one("#owner_title").render().plain
        assert title.startswith("5 owners charged 141MiB")
        assert "5 Owners" in pane.query_one("#viewbar").render().plain
        # sorting like the other views: < > move the sort column, I inverts, a header click sorts
        await pilot.press("greater_than_sign")
        assert t.sort_key == "buffers"
        await pilot.press("I")
        counts = [t.raw(k)[3] for k in table_keys(t)]
        assert counts == sorted(counts)
        await pilot.click("#owner_table", offset=(12, 0))          # the OWNER header
        await pilot.pause()
        assert t.sort_key == "name"
        names = [t.raw(k)[1].lower() for k in table_keys(t)]
        assert names == sorted(names)


async def test_owner_drill_down_lists_its_buffers_with_why_and_holders():
    app = fed()
    async with app.run_test(size=SIZE) as pilot:
        feed(app, factory.series(4))
        await pilot.press("5", "enter")
        assert isinstance(app.screen, OwnerScreen)
        head = app.screen.query_one("#otitle").render().plain
        assert "owner com.example.camera  pid 3100" in head and "7 buffers  charged 84.0MiB" in head
        assert "android.hardware.camera.provider@2.7-service (700)" in head
        bt = app.screen.query_one("#owned_table")
        assert set(table_keys(bt)) == {f"ino:{2000 + i}" for i in range(7)}
        k = table_keys(bt)[0]
        assert col(bt, k, "rule") == "app holder"
        assert col(bt, k, "why").startswith("held by com.example.camera (app, uid ")
        assert "shares it with /vendor/bin/hw/android.hardware.camera.provider@2.7-service (service" in col(bt, k, "why")
        assert col(bt, k, "holders") == ("android.hardware.camera.provider@2.7-service (700), com.example.camera "
                                         "(3100), com.example.camera:remote (3101)")
        why = app.screen.query_one("#owhy").render().plain
        assert why.startswith(f"why {snap_name(app, k)}: app holder: held by com.example.camera")
        await pilot.press("down")
        k2 = bt.current_key()
        assert k2 != k and snap_name(app, k2) in app.screen.query_one("#owhy").render().plain
        # Enter: the buffer, with its owner and why
        await pilot.press("enter")
        assert isinstance(app.screen, BufferScreen)
        info = app.screen.query_one("#binfo").render().plain
        assert "owner         com.example.camera  charged to pid 3100" in info
        assert "why           app holder: held by com.example.camera" in info
        await pilot.press("escape", "escape")
        # the kernel's row lists the buffers nobody holds, and says so
        t = app.pane.query_one("#owner_table")
        t.move_cursor(table_keys(t).index("kernel"))
        await pilot.press("enter")
        bt = app.screen.query_one("#owned_table")
        assert set(table_keys(bt)) == {"ino:1024", "ino:1025"}
        assert {col(bt, k, "why") for k in table_keys(bt)} == {"no process holds it by fd or mapping"}
        assert {col(bt, k, "holders") for k in table_keys(bt)} == {"nobody (kernel-only)"}


def snap_name(app, key):
    return app.pane.frame.snapshot.buffers[key].name


async def test_an_owner_that_exited_has_a_gone_row_and_its_buffers_say_so():
    s0 = factory.small(0, evil=False)
    shared = Buffer(key="ino:3000", size=8 * MiB, inode=3000, exporter="system", name="SurfaceView",
                    holders={612: Holding(fds=(5,)), 5000: Holding(fds=(6,))}, tag="graphics", sources=("bufinfo",))
    yt = factory._proc(5000, "youtube", "com.google.android.youtube")
    s0 = dataclasses.replace(s0, buffers={**s0.buffers, shared.key: shared}, processes={**s0.processes, 5000: yt})
    s0 = dataclasses.replace(s0, owners=infer(s0).owners)
    procs = {p: v for p, v in s0.processes.items() if p != 5000}        # the app exited; SurfaceFlinger keeps it
    kept = dataclasses.replace(shared, holders={612: Holding(fds=(5,))})
    s1 = dataclasses.replace(s0, time=s0.time + 2, processes=procs, buffers={**s0.buffers, kept.key: kept}, owners={})
    s1 = dataclasses.replace(s1, owners=infer(s1, previous=s0.owners).owners)
    app = TopApp(ListSource([s0, s1]), start=False)
    async with app.run_test(size=SIZE) as pilot:
        feed(app, [s0, s1])
        await pilot.press("5")
        t = app.pane.query_one("#owner_table")
        gone = "o:com.google.android.youtube"
        assert gone in table_keys(t)
        assert col(t, gone, "name") == "com.google.android.youtube (gone)"
        assert col(t, gone, "held_by") == "surfaceflinger" and col(t, gone, "pid") == "-"
        assert col(t, gone, "rule") == "last app holder" and col(t, gone, "bytes") == "8.0MiB"
        t.move_cursor(table_keys(t).index(gone))
        await pilot.press("enter")
        assert "runs no process any more" in app.screen.query_one("#otitle").render().plain
        assert "the app is gone" in app.screen.query_one("#owhy").render().plain


async def test_owners_at_80x24_show_owner_charged_delta_and_holders():
    app = fed()
    async with app.run_test(size=(80, 24)) as pilot:
        feed(app, factory.series(4))
        await pilot.press("5")
        t = app.pane.query_one("#owner_table")
        assert t.shown_keys() == ["name", "bytes", "delta", "held_by"]   # the count: in the drill-down
        assert t.width_total <= 80
        line = t.render_line(1).text
        assert "com.example.camera" in line and "84.0MiB" in line and "+36.0MiB" in line and "self" in line
        bar = app.pane.query_one("#viewbar").render().plain
        assert "5 Owners" in bar and len(bar.rstrip()) <= 80
        await pilot.press("enter")
        bt = app.screen.query_one("#owned_table")
        assert bt.shown_keys() == ["size", "name", "rule", "why"]


async def test_help_explains_the_owners_view():
    app = fed()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.text().plain
        assert "5 owners" in text and "CHARGED" in text and "HELD BY" in text


async def test_the_processes_view_says_what_each_process_and_package_is_charged():
    app = fed()
    async with app.run_test(size=(80, 24)) as pilot:
        feed(app, factory.series(4))
        await pilot.pause()
        t = app.pane.query_one("#proc_table")
        assert "charged" in t.shown_keys()                        # at 80 columns too
        acc = app.pane.frame.acc
        assert sum(t.raw(k)[4] for k in table_keys(t)) == acc.totals.charged
        # the preview buffers are the app's, not its :remote process's nor the provider's, which hold them too
        assert (col(t, "p:3100", "charged"), col(t, "p:3101", "charged"), col(t, "p:700", "charged")) == \
            ("84.0MiB", "0B", "0B")
        assert col(t, "p:3100", "pss") == col(t, "p:700", "pss") == "28.0MiB"
        await pilot.press("greater_than_sign")                    # sort by it
        assert t.sort_key == "charged" and table_keys(t)[0] == "p:3100"
        await pilot.press("g")                                    # by package: the app's two processes
        assert col(t, "k:com.example.camera", "charged") == "84.0MiB"
        assert sum(t.raw(k)[4] for k in table_keys(t)) == acc.totals.charged
        await pilot.press("g")                                    # by tag: a tag's held bytes, once
        assert col(t, "t:camera", "charged") == "84.0MiB"
        await pilot.press("g", "enter")                           # back to processes; the drill-down says it
        assert "charged 84.0MiB" in app.screen.query_one("#ptitle").render().plain


def _demo_snapshots(tmp_path, steps=4):
    from droidtrack.sim.demo import build_step
    from droidtrack.sources.localroot import LocalRootSource
    out = []
    for step in range(steps):
        root = tmp_path / f"step{step}"
        build_step(step).write(root)
        out.append(LocalRootSource(str(root)).collect().snapshot)
    return out


async def test_the_demo_phones_owners_view_charges_the_leak_to_the_camera_app(tmp_path):
    """The demo's owner story on screen: the leaking preview buffers are held by the camera app, the
    camera provider and SurfaceFlinger; by PSS all three grow, and the Owners view charges the
    whole leak to com.example.camera."""
    from droidtrack.sim import demo
    snaps = _demo_snapshots(tmp_path)
    leak = demo.LEAK_PER_STEP * 3 * demo.PREVIEW                  # three steps after the first sample
    app = TopApp(ListSource(snaps), start=False)
    async with app.run_test(size=(80, 24)) as pilot:
        feed(app, snaps)
        await pilot.pause()
        rows = app.pane.frame.rows["process"]
        for pid in (demo.PID_CAMERA, demo.PID_CAMPROV, demo.PID_SF):        # all three seem to grow
            assert rows[f"p:{pid}"].delta > 0
        assert rows[f"p:{demo.PID_CAMPROV}"].charged == 0
        await pilot.press("5")
        t = app.pane.query_one("#owner_table")
        assert table_keys(t)[0] == CAM
        assert t.raw(CAM)[4] == leak and col(t, CAM, "delta") == "+21.1MiB"
        assert col(t, CAM, "held_by") == "self, camera.provider@2.7, surfaceflinger"
        others = [k for k in table_keys(t) if k != CAM]
        assert all(t.raw(k)[4] == 0 for k in others)                 # nothing else grows
        assert "+21.1MiB" in t.render_line(1).text and "camera.provider" in t.render_line(1).text
        await pilot.press("enter")
        bt = app.screen.query_one("#owned_table")
        leaked = [f"ino:{i}" for i in demo.leaked_inodes(3)]
        assert set(leaked) <= set(table_keys(bt))
        for k in leaked:
            assert col(bt, k, "rule") == "app holder"
            assert col(bt, k, "why").startswith("held by com.example.camera (app, uid 10123)")
        bt.move_cursor(table_keys(bt).index(leaked[1]))
        await pilot.pause()
        why = app.screen.query_one("#owhy").render().plain
        assert "app holder: held by com.example.camera (app, uid 10123); shares it with" in why
        assert "camera.provider@2.7-service (service, uid 1047)" in why and "surfaceflinger (service, uid 1000)" in why
