"""Training from CI: pipeline files, CI-friendly job reports, and their checks.

``pipeline`` turns settings into a pipeline file (pure; ``templates`` holds the three CI
systems' texts); ``report`` formats what a CI log and job summary show; ``check`` compares a
pipeline file with the project's current settings (``sagelift doctor --ci``).
"""

from __future__ import annotations
