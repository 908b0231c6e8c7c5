"""dependencies = "isolated": a venv built from the requirements, cached by their hash."""

from __future__ import annotations

import json
import sys
import tarfile

import pytest

from sagelift import jobs
from sagelift.backends.base import JobState
from sagelift.errors import SpecError


def seen(status):
    with tarfile.open(status.model_artifacts) as tar:
        return json.load(tar.extractfile("env.json"))


def test_isolated_venv_is_built_once_and_reused(make_project, clean_environ, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    project = make_project("ok", dependencies="isolated")
    (project / "requirements.txt").write_text("# nothing beyond the standard library\n")
    first = jobs.run(jobs.load_spec(project, environ=clean_environ))
    assert first.status.state is JobState.COMPLETED, first.status.failure_reason
    prefix = seen(first.status)["prefix"]
    assert prefix.startswith(str(tmp_path / "cache" / "sagelift" / "venvs"))
    assert prefix != sys.prefix
    venvs = list((tmp_path / "cache" / "sagelift" / "venvs").iterdir())
    marker = venvs[0] / "pyvenv.cfg"
    built = marker.stat().st_mtime_ns

    second = jobs.run(jobs.load_spec(project, environ=clean_environ))
    assert seen(second.status)["prefix"] == prefix
    assert marker.stat().st_mtime_ns == built
    assert len(list((tmp_path / "cache" / "sagelift" / "venvs").iterdir())) == 1

    (project / "requirements.txt").write_text("# changed requirements, new environment\n")
    third = jobs.run(jobs.load_spec(project, environ=clean_environ))
    assert seen(third.status)["prefix"] != prefix


def test_isolated_without_requirements_is_a_usage_error(make_project, clean_environ):
    project = make_project("ok", dependencies="isolated")
    with pytest.raises(SpecError, match="requirements"):
        jobs.submit(jobs.load_spec(project, environ=clean_environ))
    assert not (project / ".sagelift").exists()
