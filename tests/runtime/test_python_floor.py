"""The launcher bundle on the oldest Python it supports, and the refusal an older one gets.

Old interpreters are found as ``pythonX.Y`` on PATH or under ``~/.pyenv/versions``; tests that
need one are skipped where it is absent. The source-level feature check runs everywhere.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from sagelift.backends.container import BOOTSTRAP
from sagelift.runtime.bundle import build_bundle, bundle_members
from sagelift.runtime.floor import PYTHON_FLOOR, refusal_message

from .conftest import MakeJob

FLOOR_TEXT = ".".join(map(str, PYTHON_FLOOR))


def find_python(version: str) -> str | None:
    """An interpreter of exactly ``version`` ("3.8"), or None."""
    candidates = [shutil.which(f"python{version}") or ""]
    candidates += sorted(
        glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python3"))
    )
    for candidate in candidates:
        if not candidate or "/shims/" in candidate:
            continue
        done = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    return None


def need_python(version: str) -> str:
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter on this machine")
    return python


def plain_env() -> dict[str, str]:
    """The test's environment without anything that would put this checkout on sys.path."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
        and not k.startswith(("SM_", "SAGEMAKER_"))
    }


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundle().write(tmp_path_factory.mktemp("bundle") / "sagelift_runtime.pyz")


TRAIN = """\
    import json, os, sys
    from sagelift.checkpoints import Checkpoints
    import sagelift
    ckpt = Checkpoints()
    facts = {
        "python": list(sys.version_info[:2]),
        "sagelift": sagelift.__file__,
        "argv": sys.argv[1:],
        "checkpoints": str(ckpt.directory),
    }
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "facts.json"), "w") as handle:
        json.dump(facts, handle)
"""


def run_bundle(
    python: str, bundle: Path, root: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, str(bundle), "--root", str(root), "--python", python, *extra],
        capture_output=True,
        text=True,
        timeout=60,
        env=plain_env(),
        check=False,
    )


# --- the bundle's sources stay within the floor ------------------------------------------------

#: Attributes and functions that are newer than 3.8, by name (vermin-like, for what the stdlib
#: gives no syntax error for).
NEWER_NAMES = {
    "removeprefix": "3.9",
    "removesuffix": "3.9",
    "is_relative_to": "3.9",
    "with_stem": "3.9",
    "readlink": "3.9",
    "cache": "3.9",  # functools.cache
    "waitstatus_to_exitcode": "3.9",
    "pidfd_open": "3.9",
    "bit_count": "3.10",
    "pairwise": "3.10",
    "aiter": "3.10",
    "anext": "3.10",
    "to_thread": "3.9",
    "lcm": "3.9",
    "TypeAlias": "3.10",
    "ParamSpec": "3.10",
    "Concatenate": "3.10",
    "TypeGuard": "3.10",
    "Self": "3.11",
    "tomllib": "3.11",
    "zoneinfo": "3.9",
    "graphlib": "3.9",
}
BUILTIN_GENERICS = {"list", "dict", "tuple", "set", "frozenset", "type"}
NEWER_KEYWORDS = {
    ("dataclass", "slots"): "3.10",
    ("dataclass", "kw_only"): "3.10",
    ("zip", "strict"): "3.10",
}


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of every node inside an annotation or an ``if TYPE_CHECKING:`` block (not run)."""
    skipped: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            skipped.update(id(sub) for sub in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            mark(node.returns)
            for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
                mark(arg.annotation)
            for arg in (node.args.vararg, node.args.kwarg):
                mark(arg.annotation if arg else None)
        elif isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        elif (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING"
        ):
            for stmt in node.body:
                mark(stmt)
    return skipped


def newer_features(source: str, name: str) -> Iterator[str]:
    """What in ``source`` needs a Python newer than the floor, one line per finding."""
    tree = ast.parse(source, name, feature_version=PYTHON_FLOOR)
    skipped = _annotation_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Attribute) and node.attr in NEWER_NAMES:
            yield f"{where}: .{node.attr} needs {NEWER_NAMES[node.attr]}"
        elif isinstance(node, ast.alias) and node.name.split(".")[0] in NEWER_NAMES:
            yield f"{where}: import {node.name} needs {NEWER_NAMES[node.name.split('.')[0]]}"
        elif isinstance(node, ast.ImportFrom) and (node.module or "") in NEWER_NAMES:
            yield f"{where}: from {node.module} needs {NEWER_NAMES[node.module or '']}"
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id in BUILTIN_GENERICS
        ):
            yield f"{where}: {node.value.id}[...] evaluated at run time needs 3.9"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            sides = (node.left, node.right)
            if any(
                (isinstance(s, ast.Constant) and s.value is None)
                or (isinstance(s, ast.Name) and (s.id in BUILTIN_GENERICS or s.id[:1].isupper()))
                or isinstance(s, ast.Subscript)
                for s in sides
            ):
                yield f"{where}: X | Y of types evaluated at run time needs 3.10"
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            for keyword in node.keywords:
                version = NEWER_KEYWORDS.get((called, keyword.arg or ""))
                if version:
                    yield f"{where}: {called}({keyword.arg}=...) needs {version}"
        elif type(node).__name__ in ("Match", "TryStar", "TypeAlias"):
            yield f"{where}: {type(node).__name__} statement is newer than {FLOOR_TEXT}"


def test_every_bundled_module_uses_only_floor_features() -> None:
    findings = [
        line
        for name, path in bundle_members().items()
        for line in newer_features(path.read_text(encoding="utf-8"), name)
    ]
    assert findings == []


def test_the_feature_check_finds_what_it_looks_for() -> None:
    source = textwrap.dedent(
        """
        from __future__ import annotations
        from dataclasses import dataclass
        from typing import TypeAlias
        X = int | None
        @dataclass(frozen=True, slots=True, kw_only=True)
        class A:
            a: int | None
        def f(s: str | None) -> list[int]:
            return [len(s.removeprefix("x")), *zip([1], [2], strict=True)]
        """
    )
    found = list(newer_features(source, "m.py"))
    assert len(found) == 6, found  # the annotations are not findings


def test_the_bundle_holds_the_checkpoint_helper() -> None:
    assert "sagelift/checkpoints.py" in bundle_members()


# --- real interpreters ---------------------------------------------------------------------------


def test_every_bundled_module_imports_on_the_floor_python(bundle: Path) -> None:
    python = need_python(FLOOR_TEXT)
    names = [
        name[:-3].replace("/", ".").removesuffix(".__init__")
        for name in bundle_members()
        if not name.endswith("__main__.py")
    ]
    script = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(bundle)!r})\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "    assert sys.modules[name].__file__.startswith(sys.path[0]), name\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [python, "-c", script], capture_output=True, text=True, env=plain_env(), check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize("version", [FLOOR_TEXT, "3.9"])
def test_a_job_completes_on_an_old_python(bundle: Path, make_job: MakeJob, version: str) -> None:
    python = need_python(version)
    job = make_job({"epochs": 3})
    job.write("train.py", TRAIN)
    done = run_bundle(python, bundle, job.root, "--status-file", str(job.status_file))
    assert done.returncode == 0, done.stderr
    assert job.status()["state"] == "Completed"
    facts = json.loads((job.layout.model_dir / "facts.json").read_text())
    assert facts["python"] == [int(part) for part in version.split(".")]
    assert facts["argv"] == ["--epochs", "3"]
    # Only the bundle is there, and it provides the checkpoint helper.
    assert facts["sagelift"].startswith(str(bundle))


def test_an_older_python_fails_with_a_reason_naming_the_floor(
    bundle: Path, make_job: MakeJob
) -> None:
    python = need_python("3.7")
    job = make_job()
    job.write("train.py", TRAIN)
    done = run_bundle(python, bundle, job.root, "--status-file", str(job.status_file))
    assert done.returncode == 2
    expected = refusal_message((3, 7))
    assert "needs 3.8 or newer" in expected
    assert job.failure().strip() == expected
    assert done.stderr.strip() == expected
    status = job.status()
    assert (status["state"], status["exit_code"]) == ("Failed", 2)
    assert status["failure_reason"].strip() == expected
    assert not (job.layout.model_dir / "facts.json").exists()


def test_the_container_bootstrap_refuses_an_older_python_the_same_way(make_job: MakeJob) -> None:
    python = need_python("3.7")
    job = make_job()
    done = subprocess.run(
        [python, "-c", BOOTSTRAP, "--root", str(job.root), "--status-file", str(job.status_file)],
        capture_output=True,
        text=True,
        env=plain_env(),
        check=False,
    )
    assert done.returncode == 2
    assert job.failure().strip() == refusal_message((3, 7))
    assert job.status()["state"] == "Failed"


def test_the_refusal_without_a_layout_only_says_why(tmp_path: Path) -> None:
    python = need_python("3.7")
    bundle_path = build_bundle().write(tmp_path / "b.pyz")
    done = subprocess.run(
        [python, str(bundle_path), "--root", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        env=plain_env(),
        check=False,
    )
    assert done.returncode == 2
    assert "needs 3.8 or newer" in done.stderr
    assert not (tmp_path / "missing").exists()


# --- an installed sagelift is never hidden -----------------------------------------------------


def bare_venv(where: Path) -> Path:
    """A venv of the running interpreter with nothing installed; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    return where / "bin" / "python"


def venv_with_sagelift(where: Path) -> Path:
    """A venv whose site-packages holds a full copy of this sagelift (as pip installs it)."""
    python = bare_venv(where)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
        env=plain_env(),
    ).stdout.strip()
    source = Path(__file__).resolve().parents[2] / "src" / "sagelift"
    shutil.copytree(source, Path(site) / "sagelift", ignore=shutil.ignore_patterns("__pycache__"))
    return python


def test_an_installed_sagelift_wins_over_the_bundle(
    bundle: Path, make_job: MakeJob, tmp_path: Path
) -> None:
    venv_python = venv_with_sagelift(tmp_path / "venv")
    job = make_job()
    job.write("train.py", TRAIN)
    done = run_bundle(str(venv_python), bundle, job.root)
    assert done.returncode == 0, done.stderr
    facts = json.loads((job.layout.model_dir / "facts.json").read_text())
    assert facts["sagelift"].startswith(str(tmp_path / "venv")), facts
    assert "sagelift_runtime.pyz" not in facts["sagelift"]


def test_a_plain_python_gets_the_helper_from_the_bundle(
    bundle: Path, make_job: MakeJob, tmp_path: Path
) -> None:
    python = bare_venv(tmp_path / "bare")
    job = make_job()
    job.write("train.py", TRAIN)
    done = run_bundle(str(python), bundle, job.root)
    assert done.returncode == 0, done.stderr
    facts = json.loads((job.layout.model_dir / "facts.json").read_text())
    assert facts["sagelift"].startswith(str(bundle))
