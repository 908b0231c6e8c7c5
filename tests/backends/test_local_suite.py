"""The shared backend suite, bound to the local backend."""

from __future__ import annotations

from typing import Any

import pytest

from tests.suites.backend_suite import BackendSuite


class TestLocalBackend(BackendSuite):
    @pytest.fixture
    def backend_overrides(self) -> dict[str, Any]:
        return {"instance_type": "local"}


class TestLocalBackendWithoutOptMl(BackendSuite):
    """The same behaviour where /opt/ml cannot be bound (macOS, no namespaces): SM_* point
    into the job's own layout directory."""

    @pytest.fixture
    def backend_overrides(self) -> dict[str, Any]:
        return {"instance_type": "local", "opt_ml": "off"}
