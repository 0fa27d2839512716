"""`python -m alarmhub` is the `alarmhub` command."""

from alarmhub.cli import main

raise SystemExit(main())
