try:
    from droidtrack.cli import main
except KeyboardInterrupt:            # Ctrl-C while Python loads droidtrack: exit 130, as documented
    raise SystemExit(130)

raise SystemExit(main())
