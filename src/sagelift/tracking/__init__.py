"""Experiment tracking: the Tracker seam (``base``), MLflow (``mlflow``), metric lines
(``metrics``) and the per-job recording used by ``sagelift.jobs`` (``session``), with the store
it records in (``store``), the run's params and tags (``run_data``), the job's tracking state
(``state``), live metrics (``sink``) and what the ended job adds (``outcome``)."""
