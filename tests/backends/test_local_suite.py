"""The shared backend suite, bound to the local backend."""

from __future__ import annotations

from typing import Any

import pytest

from tests.suites.backend_suite import BackendSuite


class TestLocalBackend(BackendSuite):
    @pytest.fixture
    def backend_overrides(self) -> dict[str, Any]:
        return {"instance_type": "local"}
