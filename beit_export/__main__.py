"""``python -m beit_export`` is the same command as ``beit-export``."""

from beit_export.cli import main

raise SystemExit(main())
