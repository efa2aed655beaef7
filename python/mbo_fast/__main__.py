"""`python -m mbo_fast` runs the CLI."""

from .cli import main

raise SystemExit(main())
