"""``python -m sagelift.runtime``."""

from __future__ import annotations

from sagelift.runtime.main import main

raise SystemExit(main())
