"""Allow ``python -m syncer``."""

from syncer.cli.main import main

raise SystemExit(main())
