"""``sagelift init`` on differently shaped real projects: the sagelift.toml it writes runs.

Each project is tiny and stdlib-only; ``init`` runs without flags (CI, so nothing is asked) and
``sagelift run`` must then Complete locally with no further flag. The metric regexes it proposes
must reach the request and the local metric parsing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib

from sagelift import init, jobs
from sagelift.backends.sagemaker.request import build_create_training_job_request
from sagelift.cli import main
from sagelift.job import JobState
from sagelift.tracking.metrics import parse_metrics
from sagelift.uploads import ShippedChannel, ShippedCode


@pytest.fixture(autouse=True)
def _ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SAGELIFT_CONFIG", raising=False)


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def init_and_read(project: Path) -> tuple[dict[str, object], str]:
    assert main(["-C", str(project), "init"]) == 0
    text = (project / "sagelift.toml").read_text(encoding="utf-8")
    return tomllib.loads(text), text


def run_completes(project: Path) -> list[str]:
    """Run the project as written, no flag: it Completes; its output lines."""
    assert main(["-C", str(project), "run", "--quiet"]) == 0
    (status,) = jobs.list_jobs(project)
    assert status.state == JobState.COMPLETED, status.failure_reason
    return list(jobs.logs(project, status.name))


def metric_values(project: Path, lines: list[str]) -> dict[str, list[float]]:
    """What local metric parsing and the CreateTrainingJob request make of the proposal."""
    spec = jobs.load_spec(project)
    request = build_create_training_job_request(
        spec,
        job_name="init-check",
        role_arn="arn:aws:iam::123456789012:role/r",
        image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1",
        code=ShippedCode(
            digest="0" * 64,
            prefix_uri="s3://b/code/",
            channel_name="code",
            container_entrypoint=("python3",),
            container_arguments=(),
            bytes_uploaded=0,
        ),
        channels=[
            ShippedChannel(name=c.name, uri=f"s3://b/{c.name}/", bytes_uploaded=0, files_uploaded=0)
            for c in spec.channels
        ],
        output_path="s3://b/out",
        checkpoint_s3_uri=None,
        region="us-east-1",
        tags={},
    )
    sent = {d["Name"]: d["Regex"] for d in request["AlgorithmSpecification"]["MetricDefinitions"]}
    assert sent == {m.name: m.regex for m in spec.metric_definitions}
    values: dict[str, list[float]] = {}
    for point in parse_metrics(lines, spec.metric_definitions):
        values.setdefault(point.key, []).append(point.value)
    return values


def test_package_entry_point_with_relative_imports_and_a_launcher_decoy(tmp_path: Path) -> None:
    """Seed-shaped: a package with train.py inside, config.ini, data/, and a sagemaker/
    launcher script that must not be taken for the training code."""
    project = write(
        tmp_path / "grants",
        {
            "grants_tagger/__init__.py": "",
            "grants_tagger/model.py": (
                "def fit(rows, epochs):\n"
                "    for epoch in range(epochs):\n"
                "        acc = 0.5 + epoch / 10\n"
                '        print(f"epoch={epoch} train_accuracy={acc}")\n'
                "    return acc\n"
            ),
            "grants_tagger/train.py": (
                "import configparser, os\n"
                "from .model import fit\n\n"
                "def main():\n"
                "    config = configparser.ConfigParser()\n"
                "    config.read('config.ini')\n"
                "    rows = os.listdir(os.environ['SM_CHANNEL_TRAIN'])\n"
                "    fit(rows, int(config['train']['epochs']))\n"
                "    open(os.path.join(os.environ['SM_MODEL_DIR'], 'model.txt'), 'w').close()\n\n"
                "if __name__ == '__main__':\n"
                "    main()\n"
            ),
            "sagemaker/train.py": (
                "import sagemaker\nfrom sagemaker.sklearn import SKLearn\n\n"
                "if __name__ == '__main__':\n"
                "    SKLearn(entry_point='train.py').fit({'train': 's3://b/data'})\n"
            ),
            "config.ini": "[train]\nepochs = 3\n",
            "data/grants.jsonl": "{}\n",
            "models/.keep": "",
            "requirements.txt": "scikit-learn==1.2.1\nsagemaker==2.200.0\n",
        },
    )
    config, text = init_and_read(project)
    assert config["entry_point"] == "-m grants_tagger.train"
    assert "it uses relative imports" in text
    assert "sagemaker/train.py (named train.py; has a __main__ guard; starts SageMaker jobs" in text
    assert config["channels"] == {"train": "data"}
    assert config["metrics"] == {"train_accuracy": "train_accuracy=([0-9.eE+-]+)"}
    assert "grants_tagger/model.py:4 prints 'train_accuracy=0.97'" in text
    assert config["image"] == {"framework": "sklearn", "framework_version": "1.2-1"}
    lines = run_completes(project)
    assert metric_values(project, lines) == {"train_accuracy": [0.5, 0.6, 0.7]}


def test_src_layout_runs_as_a_module_from_src(tmp_path: Path) -> None:
    project = write(
        tmp_path / "wine",
        {
            "pyproject.toml": '[project]\nname = "wine"\nrequires-python = ">=3.10"\n',
            "src/wine/__init__.py": "",
            "src/wine/data.py": (
                "import os\n\ndef load(path):\n    return sorted(os.listdir(path))\n"
            ),
            "src/wine/train.py": (
                "import argparse, logging, os\n"
                "from wine.data import load\n\n"
                "logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
                "parser = argparse.ArgumentParser()\n"
                "parser.add_argument('--train', default=os.environ.get('SM_CHANNEL_TRAINING'))\n"
                "args = parser.parse_args()\n"
                "for step, name in enumerate(load(args.train)):\n"
                "    logging.info('step %d loss: %.3f', step, 1.0 / (step + 1))\n"
            ),
            "data/train/a.csv": "1\n",
            "data/train/b.csv": "2\n",
        },
    )
    config, text = init_and_read(project)
    assert config["entry_point"] == "-m wine.train"
    assert config["source_dir"] == "src"
    assert "it imports its own package wine" in text
    assert config["channels"] == {"training": "data/train"}
    assert config["metrics"] == {"loss": r"loss:\s*([0-9.eE+-]+)"}
    assert config["image"] == {"mode": "deps"}
    lines = run_completes(project)
    assert metric_values(project, lines) == {"loss": [1.0, 0.5]}


def test_channels_read_in_a_package_module_match_data_folders(tmp_path: Path) -> None:
    project = write(
        tmp_path / "reader",
        {
            "train.py": (
                "from helpers.io import train_files, validation_files\n\n"
                "if __name__ == '__main__':\n"
                "    for i, _ in enumerate(train_files()):\n"
                "        print(f'loss={1.0 / (i + 1):.3f}')\n"
                "    print(f'val_loss={0.25 * len(validation_files())}')\n"
                "    print('val_accuracy:', 0.75)\n"
            ),
            "helpers/__init__.py": "",
            "helpers/io.py": (
                "import os\n\n"
                "def train_files():\n"
                "    return os.listdir(os.getenv('SM_CHANNEL_TRAIN'))\n\n"
                "def validation_files():\n"
                "    return os.listdir(os.environ['SM_CHANNEL_VALIDATION'])\n"
            ),
            "main.py": "print('hello')\n",
            "data/train/x.csv": "1\n",
            "data/train/y.csv": "1\n",
            "data/val/z.csv": "1\n",
            "data/raw/r.csv": "1\n",
        },
    )
    config, text = init_and_read(project)
    assert config["entry_point"] == "train.py"
    assert config["channels"] == {
        "train": "data/train",
        "validation": "data/val",
        "raw": "data/raw",
    }
    assert "helpers/io.py reads channel 'validation'; data/val holds its data" in text
    # loss= alone would also match val_loss=…, so it is bounded.
    assert config["metrics"] == {
        "loss": r"\bloss=([0-9.eE+-]+)",
        "val_loss": "val_loss=([0-9.eE+-]+)",
        "val_accuracy": r"val_accuracy:\s*([0-9.eE+-]+)",
    }
    lines = run_completes(project)
    assert metric_values(project, lines) == {
        "loss": [1.0, 0.5],
        "val_loss": [0.25],
        "val_accuracy": [0.75],
    }


def test_makefile_train_target_gives_entry_point_and_arguments(tmp_path: Path) -> None:
    project = write(
        tmp_path / "made",
        {
            "Makefile": (
                "PYTHON := python3\n\n"
                ".PHONY: train\n"
                "train: data\n"
                "\t@echo training\n"
                "\t$(PYTHON) -u pipeline/fit_model.py --epochs 2 --config settings.ini "
                "--verbose --out $(OUT)\n\n"
                "test:\n\tpytest\n"
            ),
            "pipeline/fit_model.py": (
                "import argparse, logging, os\n\n"
                "log = logging.getLogger('fit')\n"
                "logging.basicConfig(level=logging.INFO)\n"
                "parser = argparse.ArgumentParser()\n"
                "parser.add_argument('--epochs', type=int, required=True)\n"
                "parser.add_argument('--config', required=True)\n"
                "args, _ = parser.parse_known_args()\n"
                "assert open(args.config).read().strip() == 'ok'\n"
                "data = os.environ['SM_CHANNEL_TRAINING']\n"
                "for epoch in range(args.epochs):\n"
                "    log.info(f'accuracy={0.8 + epoch / 10:.2f}')\n"
            ),
            "main.py": "if __name__ == '__main__':\n    print('not the training')\n",
            "settings.ini": "ok\n",
            "data/all.csv": "1\n",
        },
    )
    config, text = init_and_read(project)
    assert config["entry_point"] == "pipeline/fit_model.py"
    assert "the Makefile's train target runs it" in text
    assert config["hyperparameters"] == {"epochs": "2", "config": "settings.ini"}
    assert (
        "left out (not --name value pairs, or made of make variables): --verbose --out $(OUT)"
        in (text)
    )
    assert config["channels"] == {"training": "data"}
    assert config["metrics"] == {"accuracy": "accuracy=([0-9.eE+-]+)"}
    lines = run_completes(project)
    assert metric_values(project, lines) == {"accuracy": [0.8, 0.9]}


def test_requirements_no_framework_image_satisfies_get_the_deps_image(tmp_path: Path) -> None:
    project = write(
        tmp_path / "newer",
        {
            "train.py": (
                "import os\n"
                "open(os.path.join(os.environ['SM_MODEL_DIR'], 'm'), 'w').close()\n"
                "print('rmse = %.2f' % 0.5)\n"
            ),
            "requirements.txt": (
                "# pinned by the team\nscikit-learn>=1.5  # needs a recent release\ntorch==2.4.0\n"
            ),
        },
    )
    config, text = init_and_read(project)
    assert config["entry_point"] == "train.py"
    assert config["image"] == {"mode": "deps"}
    assert "no framework image in sagelift's table can run these requirements" in text
    assert "pytorch 2.1.0: it ships torch 2.1.0, the requirements ask torch==2.4.0" in text
    assert "sklearn 1.2-1: it ships scikit-learn 1.2.1, the requirements ask scikit-learn>=1.5" in (
        text
    )
    assert config["metrics"] == {"rmse": r"rmse\s*=\s*([0-9.eE+-]+)"}
    assert "channels" not in config or config["channels"] == {}
    lines = run_completes(project)
    assert metric_values(project, lines) == {"rmse": [0.5]}


def test_requires_python_rules_out_an_image_whose_python_is_older(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "train.py": "print(1)\n",
            "pyproject.toml": '[project]\nname = "p"\nrequires-python = ">=3.11"\n'
            'dependencies = ["torch>=2"]\n',
        },
    )
    scan = init.scan_project(tmp_path)
    assert scan.image.framework is None
    assert any(
        "it runs Python 3.10, the project's requires-python >=3.11" in r
        for r in (scan.image.reasons)
    )


def test_every_proposed_regex_compiles_and_matches_its_sample(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "train.py": (
                "import logging, sys\n"
                "loss, acc, lr = 0.1, 0.9, 1e-3\n"
                "print('loss: %f' % loss)\n"
                "print('acc={:.3f} lr={}'.format(acc, lr))\n"
                "logging.log(logging.INFO, 'f1 = %s', acc)\n"
                "sys.stdout.write(f'top-5: {acc}\\n')\n"
                "print(f'epoch {1}: step={2}')\n"
            ),
        },
    )
    proposal = init.propose(init.scan_project(tmp_path), init.InitChoices())
    names = [m.name for m in proposal.metrics]
    assert names == ["loss", "acc", "lr", "f1", "top-5"]
    for metric in proposal.metrics:
        match = re.search(metric.regex, metric.sample)
        assert match is not None
        assert float(match.group(1)) == 0.97
    config = tomllib.loads(init.render_project_file(proposal))
    assert set(config["metrics"]) == set(names)


def test_interactive_choice_by_number(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from sagelift.cli import setup_commands
    from sagelift.cli.parser import build_parser

    write(
        tmp_path,
        {
            "train.py": "print(1)\n",
            "scripts/evaluate_train.py": "if __name__ == '__main__':\n    print(2)\n",
        },
    )
    monkeypatch.delenv("CI")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    answers = iter(["2", "none", "local", "y"])
    args = build_parser().parse_args(["init"])
    assert setup_commands.cmd_init(args, tmp_path, ask=lambda q, d: next(answers)) == 0
    config = tomllib.loads((tmp_path / "sagelift.toml").read_text(encoding="utf-8"))
    assert config["entry_point"] == "scripts/evaluate_train.py"


def test_a_project_on_sdk_v3_gets_the_v3_contract(tmp_path: Path) -> None:
    project = write(
        tmp_path / "modern",
        {
            "requirements.txt": "sagemaker>=3.0\n",
            "launch.py": (
                "from sagemaker.train import ModelTrainer\n"
                "ModelTrainer(hyperparameters={'use_amp': True}).train()\n"
            ),
            "train.py": (
                "import argparse, json\n"
                "parser = argparse.ArgumentParser()\n"
                "parser.add_argument('--use_amp', type=lambda s: s == 'true')\n"
                "parser.add_argument('--opts', type=json.loads)\n"
                "args = parser.parse_args()\n"
                "assert args.use_amp is True and args.opts == {'a': 1}, args\n"
            ),
        },
    )
    config, text = init_and_read(project)
    assert config["contract"] == "v3"
    assert "the requirements ask sagemaker>=3.0 (SDK v3)" in text
    text = text.replace(
        "[hyperparameters]\n# epochs = 3", "[hyperparameters]\nuse_amp = true\nopts = { a = 1 }"
    )
    (project / "sagelift.toml").write_text(text, encoding="utf-8")
    run_completes(project)


def test_sdk_v2_projects_keep_the_v2_contract(tmp_path: Path) -> None:
    for pin in ("sagemaker==2.232.0", "sagemaker>=2", "sagemaker"):
        write(tmp_path, {"train.py": "print(1)\n", "requirements.txt": pin + "\n"})
        assert init.scan_project(tmp_path).contract is None, pin
