"""`droidtrack top`: the terminal UI. It renders Snapshots (and the history it keeps of them); it
never fetches one itself: a feed (feed.py) runs the source in a worker thread and hands over frames.

    text.py     device strings made safe to show, sizes, sparklines, tag bars
    state.py    per-device history (bounded) and the per-snapshot Frame with every aggregation
    owned.py    the owners view's rows (from account.owner_groups)
    feed.py     live feed (worker thread, retries) and replay feed (a sequence of snapshots)
    messages.py what a feed posts to the UI (a Frame, an error)
    table.py    a line-API table updated in place; columns by priority, a flexible name column
    bars.py     header, summary, coverage bar, disconnect banner, replay slider
    views/      one module per view: processes, tags, kernel-only, leaks, owners, the drill-downs, help
    pane.py     the device pane: bars around the five views, user actions
    app.py      TopApp and run_top(source, interval)
    web.py      `top --web`: the same app served to a browser by textual-serve
"""
