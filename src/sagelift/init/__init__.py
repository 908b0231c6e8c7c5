"""``sagelift init``: read an existing project and propose its ``sagelift.toml``.

``project`` holds the scan, the proposal and the writing; ``code`` reads the Python files,
``entry_points`` ranks where training starts, ``channels``, ``metrics`` and ``frameworks``
propose the channels, metric definitions and cloud image.
"""

from __future__ import annotations

from sagelift.init.entry_points import Candidate
from sagelift.init.project import (
    GITIGNORE_ENTRY,
    PROJECT_FILE,
    InitChoices,
    ProjectScan,
    Proposal,
    ensure_gitignore,
    project_name,
    propose,
    render_project_file,
    scan_project,
    write_project_file,
)

__all__ = [
    "GITIGNORE_ENTRY",
    "PROJECT_FILE",
    "Candidate",
    "InitChoices",
    "ProjectScan",
    "Proposal",
    "ensure_gitignore",
    "project_name",
    "propose",
    "render_project_file",
    "scan_project",
    "write_project_file",
]
