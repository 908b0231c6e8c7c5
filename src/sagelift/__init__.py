"""sagelift: run a training project, unmodified, as a SageMaker training job."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
