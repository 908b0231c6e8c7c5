"""``python -m sagelift``."""

from __future__ import annotations

from sagelift.cli import main

raise SystemExit(main())
