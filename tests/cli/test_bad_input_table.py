"""Bad input, command by command: exit 2 (3 for infrastructure), one error line and a hint, no
traceback, and nothing created: no job record, no file, nothing uploaded.

Each case runs the real CLI in-process (``sagelift.cli.main``) on a fresh copy of a small
project, with AWS aimed at a dead loopback port; the tree under ``tmp_path`` is compared before
and after. Cases that need S3 and SageMaker run against the moto server on loopback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sagelift import cli
from sagelift.aws import AwsSettings, client
from tests.aws_server import aws_settings, moto_endpoint

__all__ = ["aws_settings", "moto_endpoint"]

Setup = Callable[[Path], None]
DEAD_ENDPOINT = "http://127.0.0.1:9"
CLOUD = ("--instance-type", "ml.m5.xlarge")
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
CLOUD_TOML = (
    'entry_point = "train.py"\n[aws]\nrole = "sagelift-test"\nregion = "us-east-1"\n'
    f'[image]\nuri = "{IMAGE}"\n'
)


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    needles: tuple[str, ...] = ()
    code: int = 2
    toml: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    setup: Setup | None = None


def case(*argv: str, needles: tuple[str, ...] | str = (), **kw: Any) -> Case:
    return Case(argv=argv, needles=(needles,) if isinstance(needles, str) else needles, **kw)


def toml(*lines: str) -> str:
    return 'entry_point = "train.py"\n' + "\n".join(lines) + "\n"


def write(rel: str, text: str | bytes, mode: int | None = None) -> Setup:
    def setup(project: Path) -> None:
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        if mode is not None:
            path.chmod(mode)

    return setup


def remove(rel: str) -> Setup:
    return lambda project: (project / rel).unlink()


def a_finished_job(project: Path) -> None:
    code = cli.main(["-C", str(project), "run", "--quiet"])
    assert code == 0


def hps(n: int) -> tuple[str, ...]:
    return tuple(a for i in range(n) for a in ("--hp", f"k{i}={i}"))


def channels(n: int) -> str:
    return "[channels]\n" + "\n".join(f'c{i} = "data"' for i in range(n))


CASES: dict[str, Case] = {
    # The parser: unknown commands, flags and values.
    "unknown command": case("frobnicate", needles="invalid choice"),
    "command typo": case("rnu", needles="invalid choice"),
    "unknown global flag": case("--verbose", "ls", needles="unrecognized arguments"),
    "run flag typo": case("run", "--epohcs", "3", needles=("unrecognized", "hint")),
    "run flag typo suggests": case("run", "--max-runtme", "1h", needles="did you mean"),
    "instance count not a number": case("run", "--instance-count", "two", needles="invalid int"),
    "max cost not a number": case("run", "--max-cost", "cheap", needles="invalid float"),
    "backend choice": case("run", "--backend", "docker", needles="invalid choice"),
    "dependencies choice": case("run", "--dependencies", "system", needles="invalid choice"),
    "opt-ml choice": case("run", "--opt-ml", "yes", needles="invalid choice"),
    "interruptions not a number": case(
        "run", "--simulate-interruptions", "x", needles="invalid int"
    ),
    "ls unknown flag": case("ls", "--all", needles="unrecognized"),
    "describe without job": case("describe", needles="required: job"),
    "logs unknown flag": case("logs", "last", "--tail", "5", needles="unrecognized"),
    "stop unknown flag": case("stop", "last", "--force", needles="unrecognized"),
    "fetch without job": case("fetch", needles="required: job"),
    "config unknown flag": case("config", "--yaml", needles="unrecognized"),
    "image without action": case("image", needles="required: ACTION"),
    "image unknown action": case("image", "frobnicate", needles="invalid choice"),
    "image mode choice": case("image", "build", "--mode", "full", needles="invalid choice"),
    "aws without action": case("aws", needles="required: ACTION"),
    "aws unknown action": case("aws", "create", needles="invalid choice"),
    "aws setup expiry not a number": case(
        "aws", "setup", "--code-expiry-days", "x", needles="invalid int"
    ),
    "aws setup keep-images not a number": case(
        "aws", "setup", "--keep-images", "many", needles="invalid int"
    ),
    "aws teardown unknown flag": case("aws", "teardown", "--purge", needles="unrecognized"),
    "prices without action": case("prices", needles="required: ACTION"),
    "track without job": case("track", needles="required: job"),
    "doctor unknown flag": case("doctor", "--fix", needles="unrecognized"),
    "init unknown flag": case("init", "--yes", "--bogus", needles="unrecognized"),
    "project dir missing": case("-C", "/nonexistent/sagelift-x", "ls", needles="does not exist"),
    "project dir is a file": case("-C", "train.py", "ls", needles="not a directory"),
    # Regions.
    "prices show bad region": case("prices", "show", "--region", "moon", needles="not an AWS"),
    "prices show region typo": case(
        "prices", "show", "--region", "us-esat-1", needles="did you mean"
    ),
    "prices refresh region typo": case(
        "prices", "refresh", "--region", "eu-wset-1", needles="not an AWS region"
    ),
    "cloud job region typo": case(
        "run", *CLOUD, toml=CLOUD_TOML, env={"SAGELIFT_AWS_REGION": "us-esat-1"}, needles="region"
    ),
    # Entry points.
    "missing script": case("run", "nope.py", needles=("nope.py", "not found")),
    "script outside the source dir": case("run", "../outside.py", needles="outside"),
    "bad module name": case("run", "-m", "pkg..train", needles="not a module name"),
    "module name with a digit first": case("run", "-m", "1pkg", needles="not a module name"),
    "script and module": case("run", "train.py", "-m", "pkg.train", needles="one entry point"),
    "script and command": case("run", "train.py", "--command", "ls", needles="one entry point"),
    "unclosed quote in command": case(
        "run", "--command", "python 'x.py", needles="no closing quotation"
    ),
    "command not on PATH": case("run", "--command", "no_such_binary_x", needles="not on PATH"),
    "command path missing": case(
        "run", "--command", "./missing.sh arg", needles="not an executable file"
    ),
    "blank command": case("run", "--command", "   ", needles="entry_point"),
    "entry point a number": case("run", toml="entry_point = 3\n", needles="entry_point"),
    "entry point empty list": case("run", toml="entry_point = []\n", needles="no entry point"),
    "entry point list of non-strings": case(
        "run", toml='entry_point = ["python", 3]\n', needles="list of strings"
    ),
    "no entry point": case("run", toml="\n", needles="no entry point"),
    "script not executable": case(
        "run", "tool", setup=write("tool", "#!/bin/sh\n", 0o644), needles="not executable"
    ),
    "entry point is a directory": case("run", "data", needles="not found"),
    "source dir missing": case("run", "--source-dir", "missing", needles="not a directory"),
    "source dir is a file": case("run", "--source-dir", "train.py", needles="not a directory"),
    # Hyperparameters.
    "hp without =": case("run", "--hp", "epochs", needles="KEY=VALUE"),
    "hp with empty key": case("run", "--hp", "=3", needles="KEY=VALUE"),
    "hp given twice": case("run", "--hp", "x=1", "--hp", "x=2", needles="more than once"),
    "hp value too long": case("run", "--hp", "x=" + "a" * 2600, needles="hyperparameters.x"),
    "hp key too long": case("run", "--hp", "k" * 257 + "=1", needles="257 characters"),
    "too many hps": case("run", *hps(101), needles="100"),
    "hp of unencodable type": case(
        "run", toml=toml("[hyperparameters]", "when = 1979-05-27T07:32:00Z"), needles="when"
    ),
    "hyperparameters not a table": case(
        "run", toml=toml("hyperparameters = 3"), needles="must be a table"
    ),
    # Channels.
    "missing channel path": case("run", "--channel", "train=data/missing", needles="not exist"),
    "invalid channel name": case("run", "--channel", "tr ain=data", needles="channel name"),
    "channel name too long": case("run", "--channel", "c" * 65 + "=data", needles="channel name"),
    "channel with unsupported scheme": case(
        "run", "--channel", "train=ftp://x/y", needles="unsupported scheme"
    ),
    "channel without =": case("run", "--channel", "train", needles="KEY=VALUE"),
    "channel given twice": case(
        "run", "--channel", "train=data", "--channel", "train=.", needles="more than once"
    ),
    "reserved code channel": case("run", "--channel", "sagelift-code=data", needles="reserved"),
    "reserved code channel on cloud": case(
        "run", *CLOUD, "--channel", "sagelift-code=data", toml=CLOUD_TOML, needles="reserved"
    ),
    "channel named ..": case("run", "--channel", "..=data", needles="reserved"),
    "channel named .": case("run", "--channel", ".=data", needles="reserved"),
    "channel covering the code": case("run", "--channel", "train=.", needles="source dir"),
    "channel covering the project": case("run", "--channel", "train=..", needles="source dir"),
    "channel covering the code on cloud": case(
        "run", *CLOUD, "--channel", "train=.", toml=CLOUD_TOML, needles="source dir"
    ),
    "too many channels": case("run", toml=toml(channels(21)), needles="at most 20"),
    "channel not a string": case("run", toml=toml("[channels]", "train = 3"), needles="train"),
    "channels not a table": case("run", toml=toml('channels = "data"'), needles="table"),
    "empty channel path": case("run", "--channel", "train=", needles="non-empty"),
    "channel table without path": case(
        "run", toml=toml("[channels]", 'train = {content_type = "text/csv"}'), needles="train"
    ),
    "s3 channel without bucket": case("run", "--channel", "train=s3://", needles="bucket"),
    "s3 channel with invalid bucket": case(
        "run", "--channel", "train=s3://Bad_Bucket/x", needles="bucket"
    ),
    # Environment.
    "secret in environment": case("run", "--env", "AWS_SECRET_ACCESS_KEY=x", needles="secret"),
    "token in environment": case("run", "--env", "MY_API_TOKEN=x", needles="secret"),
    "invalid variable name": case("run", "--env", "1BAD=x", needles="invalid variable name"),
    "env without =": case("run", "--env", "X", needles="KEY=VALUE"),
    "env given twice": case("run", "--env", "X=1", "--env", "X=2", needles="more than once"),
    "env value too long": case("run", "--env", "X=" + "v" * 513, needles="at most 512"),
    "too many env vars": case(
        "run",
        toml=toml("[environment]", *(f'V{i} = "x"' for i in range(101))),
        needles="at most 100",
    ),
    "env value a table": case(
        "run", toml=toml("[environment]", "X = {a = 1}"), needles="must be a string"
    ),
    # Durations.
    "max runtime word": case("run", "--max-runtime", "soon", needles="not a duration"),
    "max runtime zero": case("run", "--max-runtime", "0", needles="outside"),
    "max runtime past 28 days": case("run", "--max-runtime", "29d", needles="outside"),
    "max runtime negative": case("run", "--max-runtime", "-5", needles="max_runtime"),
    "max runtime fractional hours": case("run", "--max-runtime", "1.5h", needles="not a duration"),
    "max runtime boolean": case("run", toml=toml("max_runtime = true"), needles="max_runtime"),
    "max runtime nan": case("run", toml=toml("max_runtime = nan"), needles="max_runtime"),
    "stop grace too long": case("run", "--stop-grace", "2h", needles="stop_grace"),
    "stop grace word": case("run", "--stop-grace", "x", needles="not a duration"),
    "max wait without spot": case("run", "--max-wait", "2h", needles="spot"),
    "spot locally": case("run", "--spot", needles="spot"),
    "max wait below max runtime": case(
        "run",
        *CLOUD,
        "--spot",
        "--max-wait",
        "1h",
        "--max-runtime",
        "2h",
        toml=CLOUD_TOML,
        needles="at least max_runtime",
    ),
    "interrupt-at word": case("run", "--interrupt-at", "soon", needles="interrupt_at"),
    "interruptions negative": case("run", "--simulate-interruptions", "-1", needles="negative"),
    "interruptions on cloud": case(
        "run", *CLOUD, "--simulate-interruptions", "1", toml=CLOUD_TOML, needles="locally"
    ),
    # Costs.
    "max cost nan": case("run", *CLOUD, "--max-cost", "nan", toml=CLOUD_TOML, needles="finite"),
    "max cost inf": case("run", *CLOUD, "--max-cost", "inf", toml=CLOUD_TOML, needles="finite"),
    "max cost negative": case(
        "run", *CLOUD, "--max-cost", "-1", toml=CLOUD_TOML, needles="positive"
    ),
    "max cost zero": case("run", *CLOUD, "--max-cost", "0", toml=CLOUD_TOML, needles="positive"),
    "max cost word in toml": case("run", toml=toml('max_cost = "cheap"'), needles="max_cost"),
    "max cost nan in toml": case("run", toml=toml("max_cost = nan"), needles="finite"),
    "max cost NaN from env": case(
        "run", *CLOUD, toml=CLOUD_TOML, env={"SAGELIFT_MAX_COST": "NaN"}, needles="finite"
    ),
    "max cost below the estimate": case(
        "run", "-q", *CLOUD, "--max-cost", "0.01", toml=CLOUD_TOML, needles="exceeds max_cost"
    ),
    # Instance types and counts.
    "instance type typo": case("run", "--instance-type", "lokal", needles="did you mean 'local'"),
    "instance type unknown": case("run", "--instance-type", "gpu-box", needles="instance_type"),
    "ml instance type typo": case(
        "run", "--instance-type", "ml.m5.xlarg", toml=CLOUD_TOML, needles="did you mean"
    ),
    "ml instance type unknown": case(
        "run", "--instance-type", "ml.p99.huge", toml=CLOUD_TOML, needles="instance type"
    ),
    "instance count zero": case("run", "--instance-count", "0", needles="instance_count"),
    "instance count beyond a machine": case(
        "run", "--instance-count", "9", needles="at most 8 hosts"
    ),
    "instance count over 100": case(
        "run", *CLOUD, "--instance-count", "101", toml=CLOUD_TOML, needles="instance_count"
    ),
    "volume size zero": case("run", toml=toml("volume_size = 0"), needles="volume_size"),
    "instance count a string": case(
        "run", toml=toml('instance_count = "2"'), needles="instance_count"
    ),
    # Job names.
    "invalid job name": case("run", "--job-name", "bad_name!", needles="job name"),
    "job name too long": case("run", "--job-name", "j" * 64, needles="job name"),
    "job name with leading hyphen": case("run", "--job-name=-job", needles="job name"),
    "base job name with spaces": case("run", "--base-job-name", "my job", needles="base_job_name"),
    # Paths.
    "checkpoint path a file": case(
        "run", "--checkpoint-path", "train.py", needles="not a directory"
    ),
    "output path in /proc": case("run", "--output-path", "/proc/sagelift-x", needles="cannot"),
    "output path under a file": case("run", "--output-path", "train.py/out", needles="is a file"),
    "output path unsupported scheme": case(
        "run", "--output-path", "ftp://x/y", needles="unsupported scheme"
    ),
    "checkpoint path unsupported scheme": case(
        "run", "--checkpoint-path", "gs://x/y", needles="unsupported scheme"
    ),
    "requirements missing": case(
        "run", "--isolated", "--requirements", "missing.txt", needles="requirements"
    ),
    "isolated without requirements": case("run", "--isolated", needles="requirements"),
    "isolated and current": case(
        "run", "--isolated", "--dependencies", "current", needles="conflicts"
    ),
    # Metrics.
    "metric regex invalid": case(
        "run", toml=toml("[metrics]", 'loss = "loss=("'), needles="regular expression"
    ),
    "metric regex invalid in config": case(
        "config", toml=toml("[metrics]", 'acc = "[0-9"'), needles="regular expression"
    ),
    "metric regex a number": case("run", toml=toml("[metrics]", "loss = 3"), needles="metrics"),
    "metric regex empty": case("run", toml=toml("[metrics]", 'loss = ""'), needles="metrics"),
    # sagelift.toml, pyproject.toml and the user config.
    "unknown key": case("run", toml=toml('instance_typ = "local"'), needles="did you mean"),
    "malformed toml": case("run", toml=toml("epochs = = 3"), needles=("line 2", "column")),
    "toml not UTF-8": case(
        "run", setup=write("sagelift.toml", b'entry_point = "tr\xffin.py"\n'), needles="UTF-8"
    ),
    "profile not a table": case("run", toml=toml("profile = 3"), needles="must be a table"),
    "unknown profile": case("run", "--profile", "gpu", needles="unknown profile 'gpu'"),
    "unknown profile from env": case(
        "run", env={"SAGELIFT_PROFILE": "nope"}, needles="unknown profile 'nope'"
    ),
    "exclude not a list": case("run", toml=toml('exclude = "*.csv"'), needles="list of strings"),
    "spot not a boolean": case("run", toml=toml('spot = "yes"'), needles="true or false"),
    "dependencies unknown": case("run", toml=toml('dependencies = "conda"'), needles="one of"),
    "opt_ml unknown": case("run", toml=toml('opt_ml = "always"'), needles="one of"),
    "malformed pyproject": case(
        "run",
        setup=lambda p: (
            remove("sagelift.toml")(p),
            write("pyproject.toml", '[tool.sagelift]\nentry_point = "train.py\n')(p),
        ),
        needles="invalid TOML",
    ),
    "SAGELIFT_CONFIG missing": case(
        "run", env={"SAGELIFT_CONFIG": "/nonexistent/sagelift.toml"}, needles="SAGELIFT_CONFIG"
    ),
    "user config malformed": case(
        "run", setup=write("../home/.config/sagelift/config.toml", "x = = 1\n"), needles="TOML"
    ),
    "config with bad value": case("config", "--max-runtime", "soon", needles="not a duration"),
    "SAGELIFT_INSTANCE_TYPE typo": case(
        "run", env={"SAGELIFT_INSTANCE_TYPE": "lokal"}, needles="instance_type"
    ),
    "SAGELIFT_MAX_RUNTIME word": case(
        "run", env={"SAGELIFT_MAX_RUNTIME": "soon"}, needles="not a duration"
    ),
    "SAGELIFT_INSTANCE_COUNT zero": case(
        "run", env={"SAGELIFT_INSTANCE_COUNT": "0"}, needles="instance_count"
    ),
    "SAGELIFT_SPOT word": case("run", env={"SAGELIFT_SPOT": "maybe"}, needles="true or false"),
    "SAGELIFT_OPT_ML unknown": case("run", env={"SAGELIFT_OPT_ML": "on"}, needles="one of"),
    # AWS settings.
    "aws profile missing": case(
        "run",
        *CLOUD,
        toml=CLOUD_TOML,
        env={"SAGELIFT_AWS_PROFILE": "nope"},
        needles=("'nope'", "aws configure --profile nope"),
    ),
    "AWS_PROFILE missing": case(
        "run", *CLOUD, toml=CLOUD_TOML, env={"AWS_PROFILE": "nope"}, needles="'nope'"
    ),
    "no execution role": case(
        "run",
        "-q",
        *CLOUD,
        toml=toml("[image]", f'uri = "{IMAGE}"'),
        needles="no SageMaker execution role",
    ),
    "aws setup profile missing": case(
        "aws", "setup", "--dry-run", env={"SAGELIFT_AWS_PROFILE": "nope"}, needles="'nope'"
    ),
    "aws teardown profile missing": case(
        "aws", "teardown", "--dry-run", env={"SAGELIFT_AWS_PROFILE": "nope"}, needles="'nope'"
    ),
    "aws setup with unknown sagelift profile": case(
        "aws", "setup", "--profile", "gpu", needles="unknown profile"
    ),
    # Commands on jobs.
    "fetch unknown job": case("fetch", "nope", needles="no job named 'nope'"),
    "logs unknown job": case("logs", "nope", needles="no job named 'nope'"),
    "stop unknown job": case("stop", "nope", needles="no job named 'nope'"),
    "describe unknown job": case("describe", "nope", needles="no job named 'nope'"),
    "track unknown job": case(
        "track", "nope", "--tracking-uri", "./mlruns", needles="no job named 'nope'"
    ),
    "fetch into a file": case(
        "fetch", "last", "train.py", setup=a_finished_job, needles="is a file"
    ),
    "fetch under a file": case(
        "fetch", "last", "train.py/model", setup=a_finished_job, needles="is a file"
    ),
    "fetch into a non-empty dir": case(
        "fetch", "last", "data", setup=a_finished_job, needles="not empty"
    ),
    "track with tracking off": case("track", "last", setup=a_finished_job, needles="tracking"),
    # Images.
    "image push with image.uri": case(
        "image", "push", toml=toml("[image]", f'uri = "{IMAGE}"'), needles="image.uri"
    ),
    "image push with image.framework": case(
        "image", "push", toml=toml("[image]", 'framework = "sklearn"'), needles="image.framework"
    ),
    "image build with an unknown framework": case(
        "image", "build", toml=toml("[image]", 'framework = "sklern"'), needles="sklern"
    ),
    "image dockerfile exists": case(
        "image", "dockerfile", setup=write("Dockerfile", "FROM x\n"), needles="exists"
    ),
    "image push unknown profile": case("image", "push", "--profile", "nope", needles="profile"),
    "image build with bad spec": case(
        "image", "build", toml=toml("max_runtime = 0"), needles="max_runtime"
    ),
    # Input modes.
    "input mode flag choice": case("run", "--input-mode", "Stream", needles="invalid choice"),
    "input mode unknown": case("run", toml=toml('input_mode = "pipe"'), needles="input_mode"),
    "channel input mode unknown": case(
        "run",
        toml=toml("[channels.train]", 'path = "data"', 'input_mode = "Stream"'),
        needles=("channels.train.input_mode", "Pipe"),
    ),
    "channel setting typo": case(
        "run",
        toml=toml("[channels.train]", 'path = "data"', 'inputmode = "Pipe"'),
        needles="did you mean 'input_mode'",
    ),
    "pipe compression not allowed": case(
        "run",
        toml=toml(
            "[channels.train]", 'path = "data"', 'input_mode = "Pipe"', 'compression = "Bzip2"'
        ),
        needles=("compression", "Gzip"),
    ),
    "gzip outside pipe mode": case(
        "run",
        toml=toml("[channels.train]", 'path = "data"', 'compression = "Gzip"'),
        needles=("needs input_mode 'Pipe'",),
    ),
    "recordio outside pipe mode": case(
        "run",
        toml=toml(
            "[channels.train]",
            'path = "data"',
            'input_mode = "FastFile"',
            'record_wrapper = "RecordIO"',
        ),
        needles="record_wrapper",
    ),
    "manifest on a local path": case(
        "run",
        toml=toml("[channels.train]", 'path = "data"', 's3_data_type = "ManifestFile"'),
        needles="s3://",
    ),
    "augmented manifest in file mode": case(
        "run",
        toml=toml(
            "[channels.train]",
            'path = "s3://bucket-x/aug.jsonl"',
            's3_data_type = "AugmentedManifestFile"',
            'attribute_names = ["source-ref"]',
        ),
        needles="needs input_mode 'Pipe'",
    ),
    "augmented manifest without attributes": case(
        "run",
        toml=toml(
            "[channels.train]",
            'path = "s3://bucket-x/aug.jsonl"',
            's3_data_type = "AugmentedManifestFile"',
            'input_mode = "Pipe"',
        ),
        needles="attribute_names",
    ),
    # A bring-your-own job names its image, and locally reads /opt/ml itself.
    "byo on the container backend without image.uri": case(
        "run", "--backend", "container", toml=toml('kind = "byo"'), needles="image.uri"
    ),
    # --rehearse and --backend both say where the job runs: a later --backend must not turn a
    # rehearsal into a real SageMaker job (with a role configured, it would have been created).
    "rehearse then backend local": case(
        "run", "--rehearse", "--backend", "local", *CLOUD, toml=CLOUD_TOML, needles="--rehearse"
    ),
    "backend container then rehearse": case(
        "run", "--backend", "container", "--rehearse", *CLOUD, toml=CLOUD_TOML, needles="--backend"
    ),
    # A framework job runs a prebuilt image sagelift knows.
    "framework on the container backend without a framework image": case(
        "run", "--backend", "container", toml=toml('kind = "framework"'), needles="framework"
    ),
    "framework on sagemaker without a framework image": case(
        "run",
        *CLOUD,
        toml=toml('kind = "framework"', "[aws]", 'role = "sagelift-test"', 'region = "us-east-1"'),
        needles="kind = 'framework'",
    ),
    "framework on the container backend with an unknown version": case(
        "run",
        "--backend",
        "container",
        toml=toml("[image]", 'framework = "sklearn"', 'framework_version = "0.1"'),
        needles="0.1",
    ),
    "byo on sagemaker without image.uri": case(
        "run",
        *CLOUD,
        toml=toml('kind = "byo"', "[aws]", 'role = "sagelift-test"', 'region = "us-east-1"'),
        needles="image.uri",
    ),
    "byo rehearsal without image.uri": case(
        "run",
        *CLOUD,
        "--rehearse",
        toml=toml('kind = "byo"', "[aws]", 'role = "sagelift-test"', 'region = "us-east-1"'),
        needles="image.uri",
    ),
    "byo locally with opt_ml off": case(
        "run", toml=toml('kind = "byo"', 'opt_ml = "off"'), needles="opt_ml must be bindable"
    ),
    # init.
    "init over an existing file": case("init", "--yes", needles="not overwriting"),
    "init channel without =": case(
        "init", "--yes", "--force", "--channel", "train", needles="KEY=VALUE"
    ),
}


@pytest.fixture
def project(make_project: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small project, a fresh HOME, no SAGELIFT_* and AWS aimed at a dead loopback port."""
    project = make_project("ok")
    (project / "data").mkdir()
    (project / "data" / "x.csv").write_text("1\n")
    (project.parent / "outside.py").write_text("print('outside')\n")
    home = tmp_path / "home"
    home.mkdir()
    aws = tmp_path / "aws"
    aws.mkdir()
    (aws / "config").write_text("[profile dev]\nregion = us-east-1\n")
    for name in list(os.environ):
        if name.startswith(("SAGELIFT_", "AWS_", "MLFLOW_")) or name in ("XDG_CONFIG_HOME", "CI"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_ENDPOINT_URL", DEAD_ENDPOINT)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.chdir(project)
    return project


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its size and modification time."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        found[str(path.relative_to(root))] = (info.st_size, info.st_mtime_ns)
    return found


def assert_refused(
    code: int, err: str, expected: int, needles: tuple[str, ...], before: Any, after: Any
) -> None:
    assert code == expected, err
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 2, lines
    assert lines[0].startswith("sagelift: "), lines
    if len(lines) == 2:
        assert lines[1].startswith("  hint: "), lines
    for needle in needles:
        assert needle in err, err
    assert after == before


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_before_anything_is_created(
    name: str, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    bad = CASES[name]
    if bad.toml is not None:
        (project / "sagelift.toml").write_text(bad.toml, encoding="utf-8")
    if bad.setup is not None:
        bad.setup(project)
    for key, value in bad.env.items():
        monkeypatch.setenv(key, value)
    argv = list(bad.argv)
    if argv[:1] != ["-C"]:
        argv = ["-C", str(project), *argv]
    capsys.readouterr()
    before = tree(tmp_path)
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert_refused(code, captured.err, bad.code, bad.needles, before, tree(tmp_path))
    assert (project / ".sagelift").exists() == (bad.setup is a_finished_job)


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 120


def test_reserved_channel_names_include_the_code_channel() -> None:
    from sagelift import uploads
    from sagelift.backends.sagemaker import backend
    from sagelift.spec import RESERVED_CHANNELS

    assert uploads.CODE_CHANNEL in RESERVED_CHANNELS
    assert backend.CODE_CHANNEL in RESERVED_CHANNELS


# Cloud jobs against the moto server: refused before any upload, no training job created.

BUCKET = "sagelift-jobs"


def _cloud_project(project: Path, endpoint: str, *extra: str) -> None:
    (project / "sagelift.toml").write_text(
        toml(
            'instance_type = "ml.m5.xlarge"',
            "[aws]",
            f'endpoint_url = "{endpoint}"',
            'region = "us-east-1"',
            'role = "sagelift-test"',
            f'bucket = "{BUCKET}"',
            "[image]",
            f'uri = "{IMAGE}"',
            *extra,
        ),
        encoding="utf-8",
    )


@pytest.fixture
def cloud(aws_settings: AwsSettings, project: Path, moto_endpoint: str) -> AwsSettings:
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
    client("iam", aws_settings).create_role(
        RoleName="sagelift-test", AssumeRolePolicyDocument=json.dumps(trust)
    )
    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    return aws_settings


def _nothing_on_the_server(aws: AwsSettings) -> None:
    s3 = client("s3", aws)
    for bucket in s3.list_buckets()["Buckets"]:
        assert s3.list_objects_v2(Bucket=bucket["Name"]).get("KeyCount", 0) == 0
    assert client("sagemaker", aws).list_training_jobs()["TrainingJobSummaries"] == []


CLOUD_CASES = {
    "output bucket missing": (["--output-path", "s3://no-such-bucket/out"], "no-such-bucket"),
    "checkpoint bucket missing": (["--checkpoint-path", "s3://no-such-ckpt/c"], "no-such-ckpt"),
    "channel bucket missing": (["--channel", "train=s3://no-such-data/train"], "no-such-data"),
    "configured bucket missing": (["--output-path", "s3://sagelift-jobs/out"], "missing-bucket"),
}


@pytest.mark.parametrize("name", sorted(CLOUD_CASES))
def test_cloud_bad_input_uploads_nothing(
    name: str,
    cloud: AwsSettings,
    project: Path,
    moto_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    flags, needle = CLOUD_CASES[name]
    if name == "configured bucket missing":
        monkeypatch.setenv("SAGELIFT_AWS_BUCKET", "missing-bucket")
    _cloud_project(project, moto_endpoint)
    capsys.readouterr()
    before = tree(tmp_path)
    code = cli.main(["-C", str(project), "run", "--quiet", *flags])
    err = capsys.readouterr().err
    assert_refused(code, err, 2, (needle, "does not exist"), before, tree(tmp_path))
    _nothing_on_the_server(cloud)


def test_a_manifest_naming_missing_objects_creates_nothing(
    aws_settings: AwsSettings,
    project: Path,
    moto_endpoint: str,
    tmp_path: Path,
    capsys: Any,
) -> None:
    s3 = client("s3", aws_settings)
    s3.create_bucket(Bucket="sagelift-data")
    s3.put_object(Bucket="sagelift-data", Key="pool/a.csv", Body=b"1\n")
    manifest = [{"prefix": "s3://sagelift-data/pool/"}, "a.csv", "b.csv", "c.csv"]
    s3.put_object(Bucket="sagelift-data", Key="train.manifest", Body=json.dumps(manifest))
    (project / "sagelift.toml").write_text(
        toml(
            "[aws]",
            f'endpoint_url = "{moto_endpoint}"',
            "[channels.train]",
            'path = "s3://sagelift-data/train.manifest"',
            's3_data_type = "ManifestFile"',
        ),
        encoding="utf-8",
    )
    capsys.readouterr()
    before = tree(tmp_path)
    code = cli.main(["-C", str(project), "run", "--quiet"])
    err = capsys.readouterr().err
    needles = ("2 object(s) that do not exist", "pool/b.csv")
    assert_refused(code, err, 2, needles, before, tree(tmp_path))
    assert not (project / ".sagelift").exists()
