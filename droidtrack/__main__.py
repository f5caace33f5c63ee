from droidtrack import interrupt

interrupt.install()                  # before anything else loads: see droidtrack/interrupt.py
try:
    from droidtrack.cli import main
except KeyboardInterrupt:            # Ctrl-C while Python loads droidtrack: exit 130, as documented
    import sys
    print("interrupted", file=sys.stderr)
    raise SystemExit(130)

raise SystemExit(main())
