"""Data versioning: DVC-tracked channels (``sagelift.data.dvc``)."""
