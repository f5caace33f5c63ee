"""`droidtrack top`: the terminal UI. It renders Snapshots (and the history it keeps of them); it
never fetches one itself: a feed (feed.py) runs the source in a worker thread and hands over frames.

    text.py     device strings made safe to show, sizes, sparklines, tag bars
    state.py    per-device history (bounded) and the per-snapshot Frame with every aggregation
    feed.py     live feed (worker thread, retries) and replay feed (a sequence of snapshots)
    widgets.py  a line-API table updated in place, header, coverage bar, panels
    screens.py  device pane with its views, drill-down screens, help
    app.py      TopApp and run_top(source, interval)
"""
