"""The checkpoint helper beside a framework job's code: ``from sagelift.checkpoints import
Checkpoints`` works where no sagelift is installed, and an installed sagelift is loaded in the
stand-in's place, never hidden. Each case runs a real interpreter with ``-S`` (no
site-packages), so only the paths given are on ``sys.path``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sagelift import jobs
from sagelift.helper_files import helper_files

SCRIPT = """\
import json, sys
from sagelift.checkpoints import Checkpoints
import sagelift, sagelift.checkpoints

ckpt = Checkpoints(sys.argv[1])
ckpt.save(3, b"state")
print(json.dumps({
    "package": sagelift.__file__,
    "helper": sagelift.checkpoints.__file__,
    "latest_step": ckpt.latest_step(),
    "installed": getattr(sagelift, "INSTALLED", False),
}))
"""


def _project(root: Path, *, kind: str = "framework") -> Path:
    root.mkdir(parents=True)
    (root / "train.py").write_text(SCRIPT)
    (root / "sagelift.toml").write_text(f'entry_point = "train.py"\nkind = "{kind}"\n')
    (root / "requirements.txt").write_text("")
    return root


def _code_dir(project: Path, tmp_path: Path) -> Path:
    """The code as a framework job sees it: the project's files and the helper files."""
    spec = jobs.load_spec(project, environ={"HOME": str(tmp_path)})
    code = tmp_path / "opt-ml-code"
    code.mkdir()
    (code / "train.py").write_text(SCRIPT)
    for rel, content in helper_files(spec, [("train.py", project / "train.py")]).items():
        (code / rel).parent.mkdir(parents=True, exist_ok=True)
        (code / rel).write_bytes(content)
    return code


def _installed(site: Path, *, broken: bool = False) -> Path:
    package = site / "sagelift"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "raise ImportError('needs Python 3.10')\n" if broken else "INSTALLED = True\n"
    )
    (package / "checkpoints.py").write_text(
        (Path(__file__).parents[2] / "src" / "sagelift" / "checkpoints.py").read_text()
    )
    return site


def _run(code: Path, tmp_path: Path, *extra_path: Path) -> dict[str, object]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(str(p) for p in (code, *extra_path)),
    }
    done = subprocess.run(
        [sys.executable, "-S", str(code / "train.py"), str(tmp_path / "ckpt")],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_helper_imports_where_no_sagelift_is_installed(tmp_path: Path) -> None:
    code = _code_dir(_project(tmp_path / "p"), tmp_path)
    facts = _run(code, tmp_path)
    assert facts["package"] == str(code / "sagelift" / "__init__.py")
    assert facts["latest_step"] == 3
    assert facts["installed"] is False


def test_an_installed_sagelift_is_loaded_in_the_stand_ins_place(tmp_path: Path) -> None:
    code = _code_dir(_project(tmp_path / "p"), tmp_path)
    site = _installed(tmp_path / "site")
    facts = _run(code, tmp_path, site)
    assert facts["installed"] is True
    assert facts["package"] == str(site / "sagelift" / "__init__.py")
    assert facts["helper"] == str(site / "sagelift" / "checkpoints.py")
    assert facts["latest_step"] == 3


def test_an_installed_sagelift_that_cannot_import_leaves_the_helper(tmp_path: Path) -> None:
    code = _code_dir(_project(tmp_path / "p"), tmp_path)
    facts = _run(code, tmp_path, _installed(tmp_path / "site", broken=True))
    assert facts["package"] == str(code / "sagelift" / "__init__.py")
    assert facts["latest_step"] == 3


@pytest.mark.parametrize("kind", ["script", "byo"])
def test_only_framework_jobs_get_the_helper_files(tmp_path: Path, kind: str) -> None:
    project = _project(tmp_path / "p", kind=kind)
    spec = jobs.load_spec(project, environ={"HOME": str(tmp_path)})
    assert helper_files(spec, [("train.py", project / "train.py")]) == {}


def test_code_that_does_not_import_sagelift_gets_nothing(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    (project / "train.py").write_text("# uses sagelift-like names only\nimport sageliftish\n")
    (project / "notes.txt").write_text("import sagelift\n")
    spec = jobs.load_spec(project, environ={"HOME": str(tmp_path)})
    code = [("notes.txt", project / "notes.txt"), ("train.py", project / "train.py")]
    assert helper_files(spec, code) == {}
    (project / "train.py").write_text("if True:\n    from sagelift import checkpoints\n")
    assert sorted(helper_files(spec, code)) == ["sagelift/__init__.py", "sagelift/checkpoints.py"]


@pytest.mark.parametrize("own", ["sagelift/__init__.py", "sagelift.py"])
def test_a_project_with_a_sagelift_of_its_own_gets_nothing(tmp_path: Path, own: str) -> None:
    project = _project(tmp_path / "p")
    (project / own).parent.mkdir(parents=True, exist_ok=True)
    (project / own).write_text("MINE = True\n")
    spec = jobs.load_spec(project, environ={"HOME": str(tmp_path)})
    assert helper_files(spec, [("train.py", project / "train.py")]) == {}
