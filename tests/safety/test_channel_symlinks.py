"""A link in a channel never lets the job write to the user's files.

Each way a channel reaches a job is exercised with the same project, which reads and then
appends to, truncates and replaces every linked path of its channel: the staging copy, the
launcher's overlay, the launcher's copy where no overlay can be mounted, and real local jobs
with and without overlays.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs
from sagelift.backends import local
from sagelift.backends.base import JobState
from sagelift.backends.local import opt_ml_bindable
from sagelift.backends.opt_ml import stage_channel
from sagelift.errors import SpecError
from sagelift.runtime.channel_view import entries
from tests.suites.backend_suite import read_member

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "fixtures" / "jobs" / "writes_through_links" / "train.py"
LINUX = sys.platform.startswith("linux")

# What the script must read through each link: the content of what it names.
EXPECTED_READS = {
    "out_file": "outside file\n",
    "out_trunc": "truncate me\n",
    "out_replaced": "replace me\n",
    "out_dir/x.csv": "1,2\n",
    "abs_in": "a,b\n",
    "rel_in": "a,b\n",
    "hard": "hard\n",
}


def digest(root: Path) -> dict[str, str]:
    """Content and link text of everything under ``root``."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def make_channel(channel: Path, outside: Path) -> None:
    """A channel holding every kind of link, and the outside files they name."""
    (outside / "dir").mkdir(parents=True)
    (outside / "file.txt").write_text("outside file\n")
    (outside / "trunc.txt").write_text("truncate me\n")
    (outside / "replaced.txt").write_text("replace me\n")
    (outside / "dir" / "x.csv").write_text("1,2\n")
    (outside / "hard.txt").write_text("hard\n")
    channel.mkdir(parents=True)
    (channel / "data.csv").write_text("a,b\n")
    (channel / "out_file").symlink_to(outside / "file.txt")
    (channel / "out_trunc").symlink_to(os.path.relpath(outside / "trunc.txt", channel))
    (channel / "out_replaced").symlink_to(outside / "replaced.txt")
    (channel / "out_dir").symlink_to(outside / "dir")
    (channel / "abs_in").symlink_to(channel / "data.csv")
    (channel / "rel_in").symlink_to("data.csv")
    (channel / "dangling").symlink_to(outside / "missing.txt")
    os.link(outside / "hard.txt", channel / "hard")


@pytest.fixture
def linked(tmp_path: Path) -> tuple[Path, Path, dict[str, str], dict[str, str]]:
    channel, outside = tmp_path / "project" / "data", tmp_path / "outside"
    make_channel(channel, outside)
    return channel, outside, digest(channel), digest(outside)


def assert_untouched(
    channel: Path, outside: Path, before: dict[str, str], outside_before: dict[str, str]
) -> None:
    assert digest(outside) == outside_before
    assert digest(channel) == before
    assert not (outside / "missing.txt").exists()
    assert not (outside / "dir" / "new.csv").exists()


def assert_seen(seen: dict[str, Any]) -> None:
    assert {k: seen[k] for k in EXPECTED_READS} == EXPECTED_READS
    # The inward links stay links and resolve inside the job's view; outward ones are copies;
    # the dangling one is left out.
    assert seen["links"] == ["abs_in", "rel_in"]
    assert seen["abs_in_resolves_to"] == "data.csv"
    assert "dangling" not in seen["listing"]


def run_script(channel_view: Path, model_dir: Path) -> dict[str, Any]:
    model_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SM_CHANNEL_TRAIN": str(channel_view), "SM_MODEL_DIR": str(model_dir)}
    subprocess.run([sys.executable, str(SCRIPT)], env=env, check=True, capture_output=True)
    seen: dict[str, Any] = json.loads((model_dir / "seen.json").read_text())
    return seen


# -- the staging copy ----------------------------------------------------------------------


def test_staged_copy_holds_private_copies_of_outward_links(linked, tmp_path):
    channel, outside, before, outside_before = linked
    dest = tmp_path / "staged"
    report = stage_channel(channel, dest)
    assert (dest / "abs_in").is_symlink()
    assert os.readlink(dest / "abs_in") == "data.csv"
    assert not (dest / "out_file").is_symlink()
    assert not (dest / "out_dir").is_symlink()
    assert not (dest / "dangling").exists()
    assert not (dest / "dangling").is_symlink()
    assert report.files == 6  # data.csv, three outward files, out_dir/x.csv, hard

    seen = run_script(dest, tmp_path / "model")
    assert_untouched(channel, outside, before, outside_before)
    assert_seen(seen)


def test_link_to_a_directory_holding_the_channel_is_refused(tmp_path):
    channel = tmp_path / "project" / "data"
    channel.mkdir(parents=True)
    (channel / "up").symlink_to(tmp_path)
    with pytest.raises(SpecError, match="would contain itself"):
        stage_channel(channel, tmp_path / "staged")


def test_links_inside_a_linked_directory_are_resolved_against_it(tmp_path):
    channel, outside = tmp_path / "data", tmp_path / "releases"
    (outside / "v3").mkdir(parents=True)
    (outside / "v3" / "w.bin").write_text("w")
    (outside / "latest").symlink_to("v3")
    channel.mkdir()
    (channel / "releases").symlink_to(outside)
    (channel / "self").symlink_to(".")
    seen = {e.path: (e.kind, e.text) for e in entries(channel)}
    assert seen["releases"] == ("dir", "")
    assert seen["releases/latest"] == ("link", "v3")
    assert seen["releases/v3/w.bin"] == ("file", "")
    assert seen["self"] == ("link", ".")


# -- the launcher: overlay, and a copy where no overlay can be mounted ---------------------

PROBE = textwrap.dedent(
    """
    import os, runpy, sys
    from pathlib import Path
    from sagelift.runtime.mounts import prepare_view
    root, source, script = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    prepare_view(root, "off", overlays={"train": source})
    channel = root / "input" / "data" / "train"
    os.environ["SM_CHANNEL_TRAIN"] = str(channel)
    os.environ["SM_MODEL_DIR"] = str(root / "model")
    (root / "model").mkdir()
    mounted = os.path.ismount(channel)
    runpy.run_path(script, run_name="__main__")
    print("MOUNTED" if mounted else "COPIED")
    """
)


@pytest.mark.skipif(not LINUX, reason="mount namespaces are Linux-only")
@pytest.mark.parametrize("source_name", ["data", "da,ta"], ids=["overlay", "launcher-copy"])
def test_launcher_view_never_writes_through_links(tmp_path, source_name):
    channel, outside = tmp_path / "project" / source_name, tmp_path / "outside"
    make_channel(channel, outside)
    before, outside_before = digest(channel), digest(outside)
    root = tmp_path / "job" / "opt-ml"
    root.mkdir(parents=True)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(root), str(channel), str(SCRIPT)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert out.returncode == 0, out.stderr
    if source_name == "da,ta":
        # A comma cannot travel in overlay options: the launcher copies this channel.
        assert "COPIED" in out.stdout
    elif os.geteuid() == 0:
        assert "MOUNTED" in out.stdout
    assert_untouched(channel, outside, before, outside_before)
    assert_seen(json.loads((root / "model" / "seen.json").read_text()))


# -- real local jobs -----------------------------------------------------------------------


@pytest.mark.parametrize("overlays", [True, False], ids=["overlays", "copies"])
def test_local_job_never_writes_through_links(
    make_project, clean_environ, monkeypatch, tmp_path, overlays
):
    if not overlays:
        # As on a machine without mount namespaces: sagelift stages copies instead.
        monkeypatch.setattr(local, "overlay_channels", lambda spec: {})
    project = make_project("writes_through_links")
    channel, outside = project / "data", tmp_path / "outside"
    make_channel(channel, outside)
    before, outside_before = digest(channel), digest(outside)
    spec = jobs.load_spec(
        project, environ=clean_environ, instance_type="local", channels={"train": "data"}
    )
    result = jobs.run(spec)
    assert result.status.state is JobState.COMPLETED, result.status.failure_reason
    assert_untouched(channel, outside, before, outside_before)
    seen = json.loads(read_member(result.status.model_artifacts or "", "seen.json"))
    # Where this machine has mount namespaces (the tests run as root) it is an overlay.
    assert seen["mounted"] is (overlays and opt_ml_bindable())
    assert_seen(seen)


@pytest.mark.parametrize("overlays", [True, False], ids=["overlays", "copies"])
def test_local_job_with_a_self_containing_link_is_refused_before_it_starts(
    make_project, clean_environ, monkeypatch, overlays
):
    if not overlays:
        monkeypatch.setattr(local, "overlay_channels", lambda spec: {})
    project = make_project("writes_through_links")
    (project / "data").mkdir()
    (project / "data" / "project").symlink_to(project)
    spec = jobs.load_spec(
        project, environ=clean_environ, instance_type="local", channels={"train": "data"}
    )
    with pytest.raises(SpecError, match="would contain itself"):
        jobs.submit(spec)
    assert not (project / ".sagelift").exists()
