"""Small framework-kind projects for tests: a script that imports a helper module beside it
(from its own process and from a subprocess), a package absent from the framework's set
(``tinydep``, a wheel made here, offline), and a model file written to SM_MODEL_DIR that says
what the script saw (its arguments, channels, ``hyperparameters.json``)."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

from tests.conftest import dump_toml

TRAIN = """\
import json, os, subprocess, sys

import mylib

probe = subprocess.run(
    [sys.executable, "-c", "import mylib; print(mylib.GREETING)"],
    capture_output=True, text=True, check=True, cwd="/",
)
facts = {
    "greeting": mylib.GREETING,
    "subprocess_greeting": probe.stdout.strip(),
    "argv": sys.argv[1:],
    "python": "%d.%d" % sys.version_info[:2],
    "channels": json.loads(os.environ.get("SM_CHANNELS", "[]")),
    "train_files": sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"])),
}
with open(os.path.join(os.environ["SM_INPUT_CONFIG_DIR"], "hyperparameters.json")) as handle:
    facts["hyperparameters"] = json.load(handle)
try:
    import tinydep
    facts["tinydep"] = tinydep.VALUE
except ImportError:
    facts["tinydep"] = None
with open(os.path.join(os.environ["SM_MODEL_DIR"], "facts.json"), "w") as handle:
    json.dump(facts, handle)
print("train_accuracy=0.9")
"""


def wheel(directory: Path, name: str = "tinydep", version: str = "1.0") -> Path:
    """A pure-Python wheel ``name`` whose module holds ``VALUE = "<name> <version>"``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f'VALUE = "{name} {version}"\n',
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for member, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{member},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


def framework_project(root: Path, *, extra_requirement: bool = False, **config: Any) -> Path:
    """A project for ``image.framework = "sklearn"`` (what ``sagelift init`` proposes for a
    scikit-learn project) with ``mylib.py`` beside ``train.py``. ``extra_requirement`` adds
    ``tinydep`` to requirements.txt, its wheel under ``wheels/`` and the pip settings that
    find it offline (in the job's environment: the toolkit's pip reads them)."""
    root.mkdir(parents=True)
    (root / "train.py").write_text(TRAIN, encoding="utf-8")
    (root / "mylib.py").write_text('GREETING = "hello from mylib"\n', encoding="utf-8")
    (root / "data" / "train").mkdir(parents=True)
    (root / "data" / "train" / "rows.csv").write_text("1,2\n3,4\n", encoding="utf-8")
    requirements = "scikit-learn\n"
    settings: dict[str, Any] = {
        "entry_point": "train.py",
        "channels": {"train": "data/train"},
        "image": {"framework": "sklearn", "framework_version": "1.2-1"},
    }
    if extra_requirement:
        requirements += "tinydep==1.0\n"
        wheel(root / "wheels")
        settings["environment"] = {"PIP_FIND_LINKS": "wheels", "PIP_NO_INDEX": "1"}
    (root / "requirements.txt").write_text(requirements, encoding="utf-8")
    settings.update(config)
    (root / "sagelift.toml").write_text(dump_toml(settings), encoding="utf-8")
    return root


def facts_of(model_tarball: Path) -> dict[str, Any]:
    from tests.suites.backend_suite import read_member

    data: dict[str, Any] = json.loads(read_member(model_tarball, "facts.json"))
    return data
