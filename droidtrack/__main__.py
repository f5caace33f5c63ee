from droidtrack.cli import main

raise SystemExit(main())
