"""How long a refresh of `droidtrack top` takes on the UI thread with 2,000 processes holding
20,000 buffers (issue 5 budget: <= 100 ms per refresh).

A refresh = a new snapshot's Frame arrives -> the processes table is updated in place, the bars
repainted, and the screen composed and written (Textual's headless driver). The Frame itself
(accounting, groups, history) is built in the feed's worker thread and measured separately.

UI-thread time is CPU time of the thread running the event loop (time.thread_time), from handing
the frame to the pane until the loop is idle again: it counts layout, rendering and compositing,
not sleeping.

    python bench/tui_bench.py [--procs 2000] [--buffers 20000] [--refreshes 10] [--budget-ms 100]

The owners view (5) is then shown and refreshed a few times (its rows are an owner each).

Exit code 1 when the median refresh (of the processes or the owners view) is over the budget.
"""
from __future__ import annotations

import asyncio
import statistics
import sys
import time

from benchlib import REPO as ROOT, device_parser  # noqa: E402  (puts the repository on sys.path)

sys.path.insert(0, str(ROOT / "tests" / "tui"))

import factory  # noqa: E402  (tests/tui/factory.py: snapshots built from droidtrack.model)

from droidtrack.tui.app import TopApp  # noqa: E402
from droidtrack.tui.state import DeviceTimeline  # noqa: E402


class _Nothing:
    label = "bench"

    def collect(self):  # never called: the bench feeds frames itself
        raise RuntimeError("unused")

    def close(self) -> None:
        pass


async def _settle(pilot) -> None:
    await pilot.pause()
    await pilot.pause(0.02)


async def run(procs: int, buffers: int, refreshes: int, size: tuple[int, int]) -> dict:
    hist = DeviceTimeline()
    ingest: list[float] = []  # ms

    def next_frame(step: int):
        """Like the feed's worker thread: a snapshot arrives and becomes a Frame (not timed as
        UI work; only one or two snapshots are alive at a time, as in the app)."""
        s = factory.big(procs, buffers, step=step)
        t = time.perf_counter()
        f = hist.ingest(s)
        ingest.append((time.perf_counter() - t) * 1000)
        return f

    app = TopApp(_Nothing(), start=False)
    first = next_frame(0)
    out: dict = {"procs": procs, "buffers": buffers, "rows": len(first.rows["process"]),
                 "ingest_ms": ingest}
    async with app.run_test(size=size) as pilot:
        pane = app.pane
        table = pane.query_one("#proc_table")

        async def measure(action) -> float:
            await _settle(pilot)
            t0 = time.thread_time()
            action()
            await _settle(pilot)
            return (time.thread_time() - t0) * 1000

        out["first_fill_ms"] = await measure(lambda: pane.apply(first))
        out["rows_shown"] = table.row_count
        times = []
        f = first
        for i in range(1, refreshes + 1):
            f = next_frame(i)
            times.append(await measure(lambda f=f: pane.apply(f)))
        out["refresh_ms"] = times
        out["rebuilds_during_refreshes"] = table.rebuilds - 1
        # the same frame again: the floor (bars + compositing, no cell changes)
        out["unchanged_ms"] = await measure(lambda: pane.apply(f))
        # user actions that rebuild the table (not the refresh path, listed for information)
        out["filter_ms"] = await measure(lambda: pane.set_filter("vendor1"))
        out["filtered_rows"] = table.row_count
        out["unfilter_ms"] = await measure(lambda: pane.set_filter(""))
        out["group_package_ms"] = await measure(pane.next_grouping)
        out["grouped_rows"] = table.row_count
        # the owners view (5): one row per owner, refreshed the same way
        out["owners_show_ms"] = await measure(lambda: pane.show_view("owners"))
        out["owner_rows"] = pane.query_one("#owner_table").row_count
        otimes = []
        for i in range(refreshes + 1, refreshes + 4):
            f = next_frame(i)
            otimes.append(await measure(lambda f=f: pane.apply(f)))
        out["owners_refresh_ms"] = otimes
    return out


def main() -> int:
    ap = device_parser(__doc__, refs=False, runs=None)
    ap.add_argument("--refreshes", type=int, default=10)
    ap.add_argument("--budget-ms", type=float, default=100.0)
    ap.add_argument("--size", default="160x50", help="terminal size WxH (default 160x50)")
    a = ap.parse_args()
    w, h = (int(x) for x in a.size.split("x"))
    r = asyncio.run(run(a.processes, a.buffers, a.refreshes, (w, h)))
    ref = r["refresh_ms"]
    med = statistics.median(ref)
    print(f"droidtrack top refresh benchmark: {r['procs']} processes, {r['buffers']} buffers, "
          f"{r['rows']} process rows, terminal {w}x{h}")
    print(f"  worker thread  Frame build (account + groups + history): median "
          f"{statistics.median(r['ingest_ms'][1:]):.0f} ms (first {r['ingest_ms'][0]:.0f} ms)")
    print(f"  UI thread      first fill of {r['rows_shown']} rows: {r['first_fill_ms']:.1f} ms")
    print(f"  UI thread      refresh (new snapshot -> screen updated), {len(ref)} refreshes: "
          f"median {med:.1f} ms, max {max(ref):.1f} ms, min {min(ref):.1f} ms "
          f"(table rebuilt {r['rebuilds_during_refreshes']} times: in place otherwise)")
    print(f"  UI thread      same snapshot again (floor): {r['unchanged_ms']:.1f} ms")
    print(f"  UI thread      filter to {r['filtered_rows']} rows: {r['filter_ms']:.1f} ms, clear filter: "
          f"{r['unfilter_ms']:.1f} ms, group by package ({r['grouped_rows']} rows): {r['group_package_ms']:.1f} ms")
    om = statistics.median(r["owners_refresh_ms"])
    print(f"  UI thread      owners view ({r['owner_rows']} rows): shown in {r['owners_show_ms']:.1f} ms, "
          f"refresh median {om:.1f} ms over {len(r['owners_refresh_ms'])} refreshes")
    ok = med <= a.budget_ms and om <= a.budget_ms
    print(f"  budget {a.budget_ms:g} ms per refresh (median): {'OK' if ok else 'OVER'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
