"""Behaviour under Textual's Pilot: sorting, filter, grouping, drill-down, pause, the disconnect
banner, replay stepping, saving, tabs, and literal device strings."""
from __future__ import annotations

import contextlib
import zipfile

import pytest
from rich.text import Text

from droidtrack.tui.app import TopApp
from droidtrack.tui.views.buffer_holders import BufferScreen
from droidtrack.tui.views.help import HelpScreen
from droidtrack.tui.views.process_buffers import ProcessScreen

import factory
from factory import EVIL_NAME, MiB
from tuihelp import ListSource, feed, plain_cells, table_keys, until

SIZE = (130, 40)


def header(table) -> str:
    """The header line as shown."""
    return table.render_line(0).text


def fed(n=4, **kw):
    app = TopApp(ListSource(factory.series(n)), start=False, **kw)
    return app


@contextlib.asynccontextmanager
async def running(n: int):
    """A TopApp on screen (SIZE) that has been fed the first `n` snapshots of factory.series:
    (app, pilot)."""
    app = fed()
    async with app.run_test(size=SIZE) as pilot:
        feed(app, factory.series(n))
        await pilot.pause()
        yield app, pilot


async def test_default_sort_is_pss_and_keys_and_clicks_change_it():
    async with running(4) as (app, pilot):
        t = app.pane.query_one("#proc_table")
        pss = [t.raw(k)[3] for k in table_keys(t)]
        assert pss == sorted(pss, reverse=True) and len(pss) == 10
        assert "PSS▼" in header(t)
        await pilot.press("greater_than_sign")          # next column: CHARGED
        assert t.sort_key == "charged"
        charged = [t.raw(k)[4] for k in table_keys(t)]
        assert charged == sorted(charged, reverse=True) and charged[0] == 84 * MiB   # the camera app's
        await pilot.press("greater_than_sign")          # then FD-ONLY
        assert t.sort_key == "fd_only"
        fd = [t.raw(k)[5] for k in table_keys(t)]
        assert fd == sorted(fd, reverse=True)
        assert "FD-ONLY▼" in header(t) and "PSS▼" not in header(t)   # the mark is never cut off
        await pilot.press("I")                          # invert
        assert [t.raw(k)[5] for k in table_keys(t)] == sorted(fd)
        assert "FD-ONLY▲" in header(t)
        # a click on the NAME header sorts by name, A to Z first
        await pilot.click("#proc_table", offset=(12, 0))
        await pilot.pause()
        assert t.sort_key == "name" and "NAME▲" in header(t)
        names = [t.raw(k)[1].lower() for k in table_keys(t)]
        assert names == sorted(names)
        await pilot.click("#proc_table", offset=(12, 0))   # again: the other way
        await pilot.pause()
        assert [t.raw(k)[1].lower() for k in table_keys(t)] == sorted(names, reverse=True)
        assert "NAME▼" in header(t)
        # a click on a number column sorts it biggest first
        await pilot.click("#proc_table", offset=(2, 0))
        await pilot.pause()
        assert t.sort_key == "pid" and t.reverse


async def test_cursor_follows_its_process_across_refreshes():
    async with running(1) as (app, pilot):
        t = app.pane.query_one("#proc_table")
        await pilot.press("down", "down", "down")
        chosen = t.current_key()
        assert chosen not in (None, table_keys(t)[0])
        feed(app, [factory.small(3)])       # the camera processes grow and move up
        await pilot.pause()
        assert t.current_key() == chosen
        assert t.rebuilds == 1              # the first fill; the refresh was in place


async def test_incremental_filter_and_escape():
    async with running(4) as (app, pilot):
        t = app.pane.query_one("#proc_table")
        await pilot.press("slash", "c", "a", "m")
        assert set(table_keys(t)) == {"p:700", "p:3100", "p:3101"}   # provider@… has camera in its name
        await pilot.press("e", "r", "a", "x")
        assert set(table_keys(t)) == set()
        await pilot.press(*["backspace"] * 7)
        await pilot.press("4", "0", "0", "0")                          # a pid
        assert table_keys(t) == ["p:4000"]
        await pilot.press("enter")                                     # keeps the filter, back to the table
        assert app.focused is t and table_keys(t) == ["p:4000"]
        await pilot.press("escape")
        assert len(table_keys(t)) == 10 and app.pane.filter == ""


async def test_grouping_by_package_and_tag():
    async with running(1) as (app, pilot):
        t = app.pane.query_one("#proc_table")
        await pilot.press("g")
        assert app.pane.grouping == "package"
        assert "k:com.example.camera" in table_keys(t)
        cells = plain_cells(t, "k:com.example.camera")
        assert cells[0] == "2 procs" and cells[2] == "48.0MiB"
        await pilot.press("g")
        assert app.pane.grouping == "tag"
        assert set(table_keys(t)) == {"t:camera", "t:graphics", "t:gl", "t:multimedia", "t:other"}
        await pilot.press("g")
        assert app.pane.grouping == "process"


async def test_drill_down_process_then_buffer_and_back():
    async with running(3) as (app, pilot):
        await pilot.press("slash", *"example.camera:remote", "enter")
        t = app.pane.query_one("#proc_table")
        assert table_keys(t) == ["p:3101"]
        await pilot.press("enter")
        assert isinstance(app.screen, ProcessScreen)
        bt = app.screen.query_one("#buf_table")
        assert len(table_keys(bt)) == 6
        row = plain_cells(bt, "ino:2000")
        assert row[1] == "12.0MiB" and row[3] == "qcom,secure_camera" and row[5] == "fd"
        assert "com.example.camera (3100)" in row[6] and row[7] == "4s"
        await pilot.press("enter")
        assert isinstance(app.screen, BufferScreen)
        info = app.screen.query_one("#binfo").render()
        text = info.plain if isinstance(info, Text) else str(info)
        assert "by rule camera-holders" in text
        assert "first seen 2023-11-14 22:13:20, age 4s" in text
        assert "name from fdinfo" in text
        ht = app.screen.query_one("#holders")
        assert table_keys(ht) == ["700", "3100", "3101"]
        await pilot.press("escape")
        assert isinstance(app.screen, ProcessScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, (ProcessScreen, BufferScreen))


async def test_drill_down_updates_and_says_when_the_process_is_gone():
    async with running(3) as (app, pilot):
        await pilot.press("slash", *"youtube", "enter", "enter")
        assert isinstance(app.screen, ProcessScreen)
        feed(app, [factory.small(1)])      # youtube only exists from step 2 on
        await pilot.pause()
        note = app.screen.query_one("#pnote").render()
        assert "gone since 22:13:22" in (note.plain if isinstance(note, Text) else str(note))


async def test_kernel_only_view_and_buffer_with_last_holder():
    async with running(2) as (app, pilot):
        await pilot.press("3")
        t = app.pane.query_one("#ko_table")
        assert set(table_keys(t)) == {"ino:1024", "ino:1025"}
        assert plain_cells(t, "ino:1025")[6] == "system_server (1234)"
        assert plain_cells(t, "ino:1024")[6] == "never seen held"
        t.move_cursor(row=table_keys(t).index("ino:1025"))
        await pilot.press("enter")
        assert isinstance(app.screen, BufferScreen)
        info = app.screen.query_one("#binfo").render()
        assert "last held by system_server (1234) until 22:13:20" in info.plain


async def test_leak_view_and_baseline_key():
    async with running(4) as (app, pilot):
        await pilot.press("4")
        lp = app.pane.query_one("#leak_proc")
        assert set(table_keys(lp)) == {"p:700", "p:3100", "p:3101", "p:4000"}
        assert plain_cells(lp, "p:3100")[4] == "+36.0MiB"
        await pilot.press("b")
        assert table_keys(lp) == []
        feed(app, [factory.small(5)])
        await pilot.pause()
        assert set(table_keys(lp)) == {"p:700", "p:3100", "p:3101"}
        lb = app.pane.query_one("#leak_buf")
        assert set(table_keys(lb)) == {"ino:2007", "ino:2008"}   # the two leaked since the baseline


async def test_tags_view_and_explanation():
    async with running(2) as (app, pilot):
        await pilot.press("2")
        tt = app.pane.query_one("#tag_table")
        assert table_keys(tt)[0] == "camera"
        rt = app.pane.query_one("#recon_table")
        labels = [plain_cells(rt, k)[0] for k in table_keys(rt)]
        assert "Σ RSS over processes" in labels and "sysfs.total" in labels
        help_ = app.pane.query_one("#recon_help")
        assert not help_.display
        await pilot.press("e")
        assert help_.display


async def test_live_feed_runs_in_a_thread_and_pause_stops_it():
    src = ListSource(factory.series(3))
    app = TopApp(src, interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.pane.frames_applied >= 3)
        assert app.pane.state == "live"
        await pilot.press("p")
        assert app.pane.state == "paused" and app.pane.feed.paused
        await pilot.pause(0.2)
        n = src.calls
        await pilot.pause(0.4)
        assert src.calls == n
        await pilot.press("p")
        await until(pilot, lambda: src.calls > n)
        assert app.pane.state == "live"


async def test_disconnect_banner_retries_and_keeps_history():
    import threading
    gate = threading.Event()
    src = ListSource(factory.series(3), fail_at={2}, crash_at={3}, gates={3: gate})
    app = TopApp(src, interval=0.05)
    import droidtrack.tui.feed as feedmod
    old = feedmod.RETRY
    feedmod.RETRY = (0.3, 2.0)     # the second failure stays on screen 2 s: time to see it on a busy machine
    try:
        async with app.run_test(size=SIZE) as pilot:
            pane = app.pane
            await until(pilot, lambda: pane.error is not None)
            banner = pane.query_one("#banner")
            assert banner.display
            assert "device emulator-5554 offline" in banner.render().plain
            assert pane.state == "disconnected"
            assert "showing the last good snapshot" in pane.query_one("#coverage").render().plain
            gate.set()      # the next attempt fails differently (not a SourceError)
            await until(pilot, lambda: pane.error is not None and "RuntimeError" in pane.error.message)
            assert "adb server went away" in banner.render().plain
            await until(pilot, lambda: pane.error is None and pane.frames_applied >= 3)
            assert not banner.display and pane.state == "live"
            # history survived: Δ is still measured from the very first sample
            assert pane.frame.rows["process"]["p:3100"].delta == 2 * 12 * MiB
    finally:
        feedmod.RETRY = old
    assert src.closed


async def test_first_collect_failing_shows_banner_not_a_crash():
    src = ListSource(factory.series(1), fail_at=set(range(1000)))
    app = TopApp(src, interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.pane.error is not None)
        assert app.pane.frame is None
        assert "nothing read yet" in app.pane.query_one("#coverage").render().plain


async def test_replay_steps_and_slider():
    snaps = factory.series(5)
    app = TopApp(snaps, interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.pane
        await until(pilot, lambda: pane.frame is not None and pane.feed.position == 4)
        assert "5/5" in pane.query_one("#slider").render().plain
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: pane.feed.position == 3 and pane.frame.time == snaps[3].time)
        await pilot.press("left_curly_bracket")
        await until(pilot, lambda: pane.feed.position == 0)
        assert pane.frame.rows["process"]["p:3100"].delta == 0   # history replayed from the start
        await pilot.press("right_square_bracket", "right_square_bracket")
        await until(pilot, lambda: pane.feed.position == 2)
        assert pane.frame.rows["process"]["p:3100"].delta == 2 * 12 * MiB
        assert "3/5" in pane.query_one("#slider").render().plain
        await pilot.press("p")                                  # play to the end
        await until(pilot, lambda: pane.feed.position == 4 and pane.feed.paused)


async def test_evil_names_are_literal_everywhere():
    import dataclasses
    dev = dataclasses.replace(factory.DEVICE, model="[blink]Pixel\x1b[5m", serial="[i]x")
    snaps = [dataclasses.replace(s, device=dev) for s in factory.series(2)]
    app = TopApp(ListSource(snaps), start=False)
    async with app.run_test(size=SIZE) as pilot:
        feed(app, snaps)
        await pilot.pause()
        t = app.pane.query_one("#proc_table")
        cell = t.cell_text("p:6666", "name")
        assert isinstance(cell, Text) and not cell.spans and cell.style == ""
        assert cell.plain == "[bold red]pwn\\x1b[31m"
        header = app.pane.query_one("#header").render().plain
        assert "[blink]Pixel\\x1b[5m" in header and "([i]x)" in header
        svg = app.export_screenshot()
        assert "[bold&#160;red]pwn\\x1b[31m" in svg
        assert "\x1b" not in svg
        await pilot.press("slash", *"pwn", "enter", "enter")
        bt = app.screen.query_one("#buf_table")
        assert plain_cells(bt, "ino:1023")[2] == "[link=x]gralloc\\x1b]0;title\\x07"
        await pilot.press("enter")
        assert "[link=x]gralloc\\x1b]0;title\\x07" in app.screen.query_one("#binfo").render().plain
        assert "\x1b" not in app.export_screenshot()


async def test_save_capture_writes_the_raw_stream(tmp_path):
    src = ListSource(factory.series(1), raw=b"@@T HDR v=1 root=\n@@T DONE\n")
    app = TopApp(src, interval=60, save_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.pane.frame is not None)
        await pilot.press("s")
        files = list(tmp_path.glob("droidtrack-emulator-5554-*.dtc"))
        assert len(files) == 1 and files[0].read_bytes() == b"@@T HDR v=1 root=\n@@T DONE\n"
        assert files[0].name == "droidtrack-emulator-5554-20231114-221320.dtc"


async def test_save_without_raw_says_so(tmp_path):
    app = TopApp(factory.series(1), save_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.pane.frame is not None)
        await pilot.press("s")
        await pilot.pause()
        assert not list(tmp_path.iterdir())
        assert any("no raw collector stream" in str(n.message) for n in app._notifications)


async def test_report_key_writes_a_bundle(tmp_path):
    pytest.importorskip("droidtrack.report")
    app = TopApp(ListSource(factory.series(2)), interval=60, save_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.pane.frame is not None)
        await pilot.press("r")
        await until(pilot, lambda: list(tmp_path.glob("droidtrack-report-*.zip")), timeout=20)
        await until(pilot, lambda: getattr(app, "reported", None) is not None, timeout=20)
        z = zipfile.ZipFile(next(tmp_path.glob("droidtrack-report-*.zip")))
        names = z.namelist()
        assert "report.html" in names and any(n.endswith(".dtc") for n in names)


async def test_several_devices_one_tab_each():
    a = ListSource(factory.series(1), label="adb:AAA")
    b = ListSource([factory.small(3, evil=False)], label="adb:[b]BBB")
    app = TopApp([a, b], interval=60)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: all(p.frame is not None for p in app.panes))
        assert app.pane is app.panes[0]
        await pilot.press("t")
        await pilot.pause()
        assert app.pane is app.panes[1]
        assert "p:6666" not in app.panes[1].frame.rows["process"]
        tabs = [str(t.label) for t in app.query("Tab")]
        assert "adb:[b]BBB" in " ".join(tabs)


async def test_interval_keys_and_help():
    app = TopApp(ListSource(factory.series(1)), interval=2.0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("plus")
        assert app.pane.feed.interval == 5.0
        await pilot.press("minus", "minus")
        assert app.pane.feed.interval == 1.0
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_quit_stops_the_feed_thread():
    src = ListSource(factory.series(1))
    app = TopApp(src, interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.pane.frame is not None)
        await pilot.press("q")
    thread = app.panes[0].feed._thread
    thread.join(2)
    assert not thread.is_alive() and src.closed


async def test_replay_of_a_recording_file(tmp_path):
    """`top --replay FILE`: the recording module's ReplaySource, stepped with random access."""
    from droidtrack.history.recording import RecordingWriter
    from droidtrack.sources import Collected
    from droidtrack.sources.replay import ReplaySource
    path = tmp_path / "session.dtr"
    with RecordingWriter(str(path)) as w:
        for s in factory.series(4):
            w.add_collected(Collected(s, None))
    src = ReplaySource(str(path))
    app = TopApp(src, interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.pane
        assert pane.feed.kind == "replay" and len(pane.feed) == 4
        await until(pilot, lambda: pane.feed.position == 3 and pane.frame is not None)
        rows = pane.frame.rows["process"]
        assert rows["p:3100"].delta == 3 * 12 * MiB
        assert "4/4" in pane.query_one("#slider").render().plain
        assert "22:13:26" in pane.query_one("#slider").render().plain
        await pilot.press("left_curly_bracket")
        await until(pilot, lambda: pane.feed.position == 0)
        assert pane.frame.time == factory.T0


async def test_80x24_shows_the_columns_that_matter_and_wide_terminals_add_the_rest():
    """Issue 15: NAME, PSS, FD-ONLY and Δ at 80x24, and CHARGED (issue 13; more as width allows); NAME
    takes the spare width."""
    app = fed()
    async with app.run_test(size=(80, 24)) as pilot:
        feed(app, factory.series(4))
        await pilot.pause()
        t = app.pane.query_one("#proc_table")
        shown = t.shown_keys()
        assert {"name", "pss", "charged", "fd_only", "delta"} <= set(shown)
        assert shown == [k for k in ("pid", "name", "rss", "pss", "charged", "fd_only", "mapped", "in_rss", "count",
                                     "tags", "delta") if k in shown]          # in their own order
        assert t.width_total <= 80 and "TAGS" not in header(t)
        line = header(t)
        assert line.index("NAME") < line.index("PSS") < line.index("CHARGED") < line.index("FD-ONLY") < line.index("Δ")
        first = t.render_line(1).text
        assert "com.example.camera" in first and "+36.0MiB" in first and "84.0MiB" in first
    app = fed()
    async with app.run_test(size=(220, 30)) as pilot:
        feed(app, factory.series(4))
        await pilot.pause()
        t = app.pane.query_one("#proc_table")
        assert t.shown_keys() == [c.key for c in t.cols]
        name_width = dict((c.key, w) for _, c, w in t.shown)["name"]
        assert name_width > 26 + 60 and t.width_total > 200      # the spare width went to NAME
        # a long name that was cut at 130 columns is whole here
        assert "android.hardware.graphics.composer3-service.pixel" in "".join(
            t.render_line(y).text for y in range(1, 12))


async def test_drill_downs_keep_the_header_and_coverage_bar():
    async with running(4) as (app, pilot):
        main_header = app.pane.query_one("#header").render().plain
        await pilot.press("down", "enter")
        assert isinstance(app.screen, ProcessScreen)
        assert "Pixel 7" in app.screen.query_one("#header").render().plain
        assert app.screen.query_one("#header").render().plain == main_header
        assert "coverage" in app.screen.query_one("#coverage").render().plain
        await pilot.press("enter")
        assert isinstance(app.screen, BufferScreen)
        assert "Pixel 7" in app.screen.query_one("#header").render().plain
        assert "processes unreadable" in app.screen.query_one("#coverage").render().plain
        # the bars follow the device while drilled down: pause shows at once
        await pilot.press("p")
        assert "paused" in app.screen.query_one("#header").render().plain


async def test_counts_say_process_and_processes():
    import dataclasses
    from droidtrack.model import Buffer, Holding
    s0 = factory.small(0)
    grown = Buffer(key="ino:1099", size=MiB, inode=1099, exporter="system", name="c2-grown",
                   holders={4000: Holding(fds=(99,))}, tag="multimedia", sources=("bufinfo",))
    s1 = dataclasses.replace(s0, time=s0.time + 2, buffers={**s0.buffers, grown.key: grown})
    app = fed()
    async with app.run_test(size=SIZE) as pilot:
        feed(app, [s0, s1])               # one process grew since the first sample
        await pilot.press("4")
        title = app.pane.query_one("#leak_title").render().plain
        assert "1 process only grew" in title, title
        await pilot.press("1", "slash", *"4000", "enter")
        assert "1 row " in app.pane.query_one("#viewbar").render().plain + " "
        await pilot.press("enter")
        ptitle = app.screen.query_one("#ptitle").render().plain
        assert "2 buffers" in ptitle, ptitle
        await pilot.press("down", "enter")
        info = app.screen.query_one("#binfo").render().plain
        assert "c2-grown" in info and "1 process\n" in info + "\n", info
