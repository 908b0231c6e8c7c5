"""Experiment tracking: the Tracker seam (``base``), MLflow (``mlflow``), metric lines
(``metrics``) and the per-job recording used by ``sagelift.jobs`` (``session``)."""
