"""Only what the user meant to ship is shipped: secrets, fetched models and tool leftovers stay
out of the code tarball (uploaded to S3) and of a local job's /opt/ml/code, and the run says so.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from sagelift import jobs
from sagelift.aws import AwsSettings, client
from sagelift.sourcedir import build_source_tarball
from tests.aws_server import REGION, aws_settings, moto_endpoint
from tests.conftest import MakeProject

__all__ = ["aws_settings", "moto_endpoint"]

BUCKET = "sagelift-secrets"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
SECRETS = {
    ".env": "AWS_SECRET_ACCESS_KEY=abc\n",
    ".env.production": "TOKEN=1\n",
    ".aws/credentials": "[default]\naws_secret_access_key = abc\n",
    ".ssh/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\n",
    "id_rsa": "-----BEGIN RSA PRIVATE KEY-----\n",
    "certs/server.pem": "-----BEGIN CERTIFICATE-----\n",
    ".netrc": "machine example.com login me password x\n",
    ".pypirc": "[pypi]\npassword = x\n",
}
JUNK = {
    ".git/config": "",
    ".venv/bin/python": "",
    "env/pyvenv.cfg": "home = /usr/bin\n",
    "env/lib/site.py": "",
    "__pycache__/train.cpython-311.pyc": "",
    ".pytest_cache/v/cache/lastfailed": "{}",
    ".mypy_cache/3.11/x.json": "{}",
    ".ruff_cache/CACHEDIR.TAG": "",
}
# Writes the list of files it finds in its own code dir into the model.
LISTING_SCRIPT = """\
import json, os
here = os.path.dirname(os.path.abspath(__file__))
found = sorted(
    os.path.relpath(os.path.join(d, f), here) for d, _, files in os.walk(here) for f in files
)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "code.json"), "w") as out:
    json.dump(found, out)
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def names(tar_bytes: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as archive:
        return {m.name for m in archive.getmembers() if m.isfile()}


def sagelift(project: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagelift", "-C", str(project), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(home)},
        timeout=120,
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def role(aws_settings: AwsSettings) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam: Any = client("iam", aws_settings)
    iam.create_role(RoleName="sagelift-test", AssumeRolePolicyDocument=json.dumps(trust))
    return "sagelift-test"


def test_secrets_stay_out_of_the_tarball_uploaded_to_s3(
    make_project: MakeProject,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    role: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    project = make_project(
        "ok",
        instance_type="ml.m5.xlarge",
        aws={"endpoint_url": moto_endpoint, "region": REGION, "role": role, "bucket": BUCKET},
        image={"uri": IMAGE},
    )
    write(project, {**SECRETS, **JUNK, "secrets.json": "{}"})
    s3: Any = client("s3", aws_settings)
    s3.create_bucket(Bucket=BUCKET)

    with caplog.at_level("WARNING", logger="sagelift"):
        jobs.submit(
            jobs.load_spec(project, environ={}), settings=jobs.load_settings(project, environ={})
        )

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    (tarball_key,) = [k for k in keys if k.endswith("sourcedir.tar.gz")]
    shipped = names(s3.get_object(Bucket=BUCKET, Key=tarball_key)["Body"].read())
    assert shipped == {"sagelift.toml", "secrets.json", "train.py"}
    assert not any(key.endswith(tuple(SECRETS)) for key in keys)
    warnings = "\n".join(r.getMessage() for r in caplog.records)
    assert "left out of the code: .aws/credentials, .env, .env.production, .netrc" in warnings
    assert "(secrets; see sagelift package --list)" in warnings
    assert "shipping files that look like secrets: secrets.json" in warnings


def test_a_local_run_copies_no_secret_into_the_code_dir_and_says_what_it_left_out(
    make_project: MakeProject, home: Path, tmp_path: Path
) -> None:
    project = make_project("ok")
    write(project, {**SECRETS, **JUNK, "train.py": LISTING_SCRIPT})

    result = sagelift(project, "run", home=home)
    assert result.returncode == 0, result.stderr

    assert (
        "sagelift: left out of the code: .aws/credentials, .env, .env.production, .netrc, "
        ".pypirc, .ssh/id_ed25519, certs/server.pem, id_rsa (secrets; see sagelift package "
        "--list)"
    ) in result.stderr.splitlines()
    job = json.loads(sagelift(project, "ls", "--json", home=home).stdout)[0]["name"]
    model = project / ".sagelift" / "jobs" / job / "output" / "model.tar.gz"
    with tarfile.open(model) as archive:
        member = archive.extractfile("code.json")
        assert member is not None
        seen = json.load(member)
    assert seen == ["sagelift.toml", "train.py"]


def test_a_fetched_model_is_not_in_the_next_tarball_but_code_under_models_is(
    make_project: MakeProject, home: Path, tmp_path: Path
) -> None:
    project = make_project("ok")
    write(project, {"models/resnet.py": "class ResNet: ...\n"})
    assert sagelift(project, "run", "--quiet", home=home).returncode == 0
    before = build_source_tarball(project, tmp_path / "before.tar.gz")

    fetched = sagelift(project, "fetch", "last", home=home)
    assert fetched.returncode == 0, fetched.stderr
    model_dir = Path(fetched.stdout.strip())
    if not model_dir.is_absolute():
        model_dir = project / model_dir
    assert model_dir.parent == project / "models"
    assert (model_dir / "model.json").is_file()

    after = build_source_tarball(project, tmp_path / "after.tar.gz")
    assert names(after.path.read_bytes()) == {"models/resnet.py", "sagelift.toml", "train.py"}
    assert after.digest == before.digest
    left_out = {item.path: item.reason for item in after.selection.left_out}
    assert left_out[f"models/{model_dir.name}/"] == "fetched"


def test_a_negation_in_sagemakerignore_ships_a_secret_on_purpose_and_gitignore_cannot(
    tmp_path: Path,
) -> None:
    project = write(
        tmp_path / "p",
        {
            "train.py": "",
            ".env": "",
            ".env.test": "",
            "secrets.json": "{}",
            "api_token.txt": "",
            "tokenizer.json": "{}",
            ".gitignore": "!.env.test\n",
            ".sagemakerignore": "!.env\n!secrets.json\n",
        },
    )
    package = build_source_tarball(project, tmp_path / "s.tar.gz")
    assert names(package.path.read_bytes()) == {
        ".env",
        ".gitignore",
        ".sagemakerignore",
        "api_token.txt",
        "secrets.json",
        "tokenizer.json",
        "train.py",
    }
    assert package.selection.risky == ("api_token.txt",)
    assert package.selection.left_out_for("secret") == (".env.test",)


def test_exclude_setting_and_ignore_file_still_apply(tmp_path: Path) -> None:
    project = write(
        tmp_path / "p",
        {"train.py": "", "data/big.bin": "x", "notes.md": "", ".sagemakerignore": "*.md\n"},
    )
    package = build_source_tarball(project, tmp_path / "s.tar.gz", exclude=["data/"])
    assert names(package.path.read_bytes()) == {".sagemakerignore", "train.py"}
    rules = {item.path: item.rule for item in package.selection.left_out}
    assert rules == {"data/": "exclude: data/", "notes.md": ".sagemakerignore: *.md"}


def test_package_list_shows_what_ships_and_what_is_left_out_and_why(
    make_project: MakeProject, home: Path, tmp_path: Path
) -> None:
    project = make_project("ok", exclude=["*.log"])
    write(project, {".env": "K=V\n", ".git/HEAD": "", "run.log": "", ".gitignore": "scratch/\n"})
    write(project, {"scratch/a.txt": ""})

    result = sagelift(project, "package", "--list", "--json", home=home)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    files = {f["path"]: f["bytes"] for f in listing["files"]}
    assert files == {
        ".gitignore": 9,
        "sagelift.toml": (project / "sagelift.toml").stat().st_size,
        "train.py": (project / "train.py").stat().st_size,
    }
    assert listing["total_bytes"] == sum(files.values())
    built = build_source_tarball(project, tmp_path / "s.tar.gz", exclude=["*.log"])
    assert (listing["sha256"], listing["tarball_bytes"]) == (built.digest, built.size)
    why = {i["path"]: (i["reason"], i["rule"]) for i in listing["left_out"]}
    assert why == {
        ".env": ("secret", "default secret rule: .env"),
        ".git/": ("always", "always left out: .git"),
        "run.log": ("ignored", "exclude: *.log"),
        "scratch/": ("ignored", ".gitignore: scratch/"),
    }

    text = sagelift(project, "package", "--list", home=home)
    assert text.returncode == 0, text.stderr
    assert "train.py" in text.stdout
    assert ".env" in text.stdout
    assert "a secret, left out by default" in text.stdout
    assert f"sha256 {built.digest}" in text.stdout


def test_checkpoints_and_outputs_inside_the_project_are_data_not_code(
    make_project: MakeProject, home: Path
) -> None:
    """A checkpoint location or output path inside the source dir holds the job's data: it is
    neither in the local job's code copy nor in the code tarball."""
    project = make_project("ok", checkpoint_path="ckpt", output_path="out")
    write(
        project,
        {"train.py": LISTING_SCRIPT, "ckpt/state.json": "{}", "out/old-job/output/x.bin": "x"},
    )

    result = sagelift(project, "run", home=home)
    assert result.returncode == 0, result.stderr
    job = json.loads(sagelift(project, "ls", "--json", home=home).stdout)[0]["name"]
    with tarfile.open(project / "out" / job / "output" / "model.tar.gz") as archive:
        member = archive.extractfile("code.json")
        assert member is not None
        assert json.load(member) == ["sagelift.toml", "train.py"]

    listing = json.loads(sagelift(project, "package", "--list", "--json", home=home).stdout)
    shipped = {entry["path"] for entry in listing["files"]}
    assert shipped == {"sagelift.toml", "train.py"}
