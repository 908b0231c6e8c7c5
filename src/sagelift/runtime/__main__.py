"""``python -m sagelift.runtime``."""

from __future__ import annotations

from sagelift.runtime.cli import main

raise SystemExit(main())
