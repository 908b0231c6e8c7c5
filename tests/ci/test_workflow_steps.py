"""The generated GitHub workflow, run step by step as a GitHub runner would run it.

``sagelift ci init --github`` writes the workflow for a small project; the test parses it and
executes every ``run:`` step in order, each with bash as GitHub runs it, in the environment a
runner gives (the workflow's ``env:`` blocks with their ``${{ }}`` expressions evaluated,
``GITHUB_*``, ``RUNNER_TEMP``, ``$GITHUB_OUTPUT`` carried to later steps, the step summary
file). ``uses:`` steps are replaced by what they would leave behind (see ``_stand_in``).

AWS is the moto server; ECR's registry is a real registry with htpasswd auth (moto's ECR
token decodes to ``AWS:<its password>``); podman builds and pushes for real. Between runs the
images the run left in podman's store are removed, as a fresh runner has none; the base
image stays (the workflow's cache step and ``image.base`` stand for it).

Three pushes to main: the first builds, pushes and submits; the second changes only
train.py: nothing is built or pushed, the job runs the same image with new code; the third
changes requirements.txt: one build, one push, a job in the new image. Then a manual run
with hyperparameters and an instance type: nothing built, the job gets both.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

import sagelift
from sagelift import records
from sagelift.aws import AwsSettings, client
from sagelift.images.base import BaseImage
from sagelift.images.builder import PodmanCLI
from tests.aws_server import REGION
from tests.conftest import MakeProject
from tests.container_infra import (
    LocalRegistry,
    auth_registry,
    cpu_base_image,
    image_namespace,
    podman_cli,
)
from tests.images.package_index import make_wheel

__all__ = ["auth_registry", "cpu_base_image", "image_namespace", "podman_cli"]

pytestmark = pytest.mark.slow

BUCKET = "sagelift-ci-jobs"
CI_ROLE = "arn:aws:iam::123456789012:role/sagelift/sagelift-ci-wf-ci-github"
EXECUTION_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
WORKFLOW = Path(".github/workflows/sagelift.yml")
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class Runner:
    """One GitHub-hosted runner, as far as the workflow's steps can tell."""

    project: Path
    home: Path
    temp: Path
    moto: str
    registry: str
    podman_env: Mapping[str, str]
    venv_bin: Path
    log: list[str] = field(default_factory=list)

    def base_env(self, sha: str, summary: Path, event: str = "push") -> dict[str, str]:
        """What every step sees before the workflow's own ``env:``: the runner's variables,
        the venv of setup-python first on PATH, podman's configuration."""
        package_root = Path(sagelift.__file__).resolve().parents[1]
        return {
            "PATH": f"{self.venv_bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(self.project),
            "GITHUB_SHA": sha,
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_REF_NAME": "main",
            "GITHUB_EVENT_NAME": event,
            "GITHUB_REPOSITORY": "acme/ci-wf",
            "GITHUB_STEP_SUMMARY": str(summary),
            "RUNNER_OS": "Linux",
            "RUNNER_TEMP": str(self.temp),
            # The installed sagelift is the code under test (see the install step below).
            "PYTHONPATH": str(package_root),
            # Anything that tried to leave loopback would fail here instead of reaching AWS.
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "HTTP_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "127.0.0.1,localhost",
            **self.podman_env,
        }


def _stand_in(
    step: Mapping[str, Any], contexts: Mapping[str, Any], runner: Runner, env: dict[str, str]
) -> None:
    """What the ``uses:`` ``step`` would leave behind, applied to ``env`` (later steps' env).

    * actions/checkout: the project is already the working directory, a git work tree at
      ``GITHUB_SHA`` (the test commits each change before the run).
    * actions/setup-python: the venv running this test, its bin first on PATH (base_env).
    * aws-actions/configure-aws-credentials: the role's short-lived credentials and region in
      ``AWS_*`` (the role must be the one the workflow pins, the region its ``aws-region``);
      here the moto server's literal ``testing`` keys, and sagelift's endpoint
      setting (``SAGELIFT_AWS_ENDPOINT_URL``) and registry setting (``SAGELIFT_AWS_REGISTRY``,
      the local registry standing in for the account's ECR host) aimed at the stand-ins.
    * actions/cache: ~/.cache/sagelift is this runner's HOME, kept between runs (a cache
      hit); the base image is ``image.base``, in podman's store.
    """
    uses = step["uses"]
    if uses.startswith(("actions/checkout@", "actions/setup-python@", "actions/cache@")):
        return
    if uses.startswith("aws-actions/configure-aws-credentials@"):
        inputs = {k: _evaluate(str(v), contexts) for k, v in step["with"].items()}
        assert inputs["role-to-assume"] == CI_ROLE, inputs
        env.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_REGION": inputs["aws-region"],
                "AWS_DEFAULT_REGION": inputs["aws-region"],
                "AWS_CONFIG_FILE": str(runner.home / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(runner.home / "no-aws-credentials"),
                "AWS_EC2_METADATA_DISABLED": "true",
                "SAGELIFT_AWS_ENDPOINT_URL": runner.moto,
                "SAGELIFT_AWS_REGISTRY": runner.registry,
            }
        )
        return
    raise AssertionError(f"the workflow uses {uses}, which this test has no stand-in for")


def _evaluate(text: str, contexts: Mapping[str, Any]) -> str:
    """``${{ }}`` expressions of the forms the workflow uses: dotted context paths joined
    by ``||``. A push event has no ``inputs``: they read as empty; anything else fails."""

    def value(path: str) -> str:
        node: Any = contexts
        for part in path.split("."):
            if not isinstance(node, Mapping):
                raise AssertionError(f"cannot evaluate {path!r}")
            node = node.get(part, "")
        return str(node) if node is not None else ""

    def one(match: re.Match[str]) -> str:
        for operand in match.group(1).split("||"):
            operand = operand.strip()
            if not re.fullmatch(r"[A-Za-z_][\w-]*(\.[\w-]+)+", operand):
                raise AssertionError(f"the test cannot evaluate ${{{{ {match.group(1)} }}}}")
            if found := value(operand):
                return found
        return ""

    return _EXPRESSION.sub(one, text)


def _read_commands_file(path: Path) -> dict[str, str]:
    """``$GITHUB_OUTPUT``/``$GITHUB_ENV``: ``key=value`` lines and ``key<<EOF`` blocks."""
    values: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, _, marker = line.partition("<<")
            block: list[str] = []
            while lines[index] != marker:
                block.append(lines[index])
                index += 1
            index += 1
            values[key] = "\n".join(block)
        elif line:
            key, _, raw = line.partition("=")
            values[key] = raw
    return values


def _is_install_step(step: Mapping[str, Any]) -> bool:
    return "pip install" in step.get("run", "") and "$SAGELIFT_PACKAGE" in step["run"]


@dataclass(frozen=True)
class WorkflowRun:
    summary: str
    outputs: Mapping[str, Mapping[str, str]]


def run_workflow(
    runner: Runner,
    workflow: Mapping[str, Any],
    sha: str,
    run_id: int,
    *,
    inputs: Mapping[str, str] | None = None,
) -> WorkflowRun:
    """Run the ``train`` job of ``workflow`` for a push of ``sha`` (a manual run with
    ``inputs``): its summary file's text and each step's outputs. A failing step fails the
    test with its output."""
    summary = runner.temp / f"summary-{run_id}.md"
    summary.touch()
    event = "push" if inputs is None else "workflow_dispatch"
    env = runner.base_env(sha, summary, event)
    env.update({k: str(v) for k, v in workflow.get("env", {}).items()})
    job = workflow["jobs"]["train"]
    env.update({k: str(v) for k, v in job.get("env", {}).items()})
    steps_context: dict[str, Any] = {}
    for number, step in enumerate(job["steps"]):
        contexts = {
            "env": env,
            "inputs": dict(inputs or {}),
            "steps": steps_context,
            "github": {"ref": env["GITHUB_REF"], "sha": sha, "event_name": event},
            "runner": {"os": "Linux", "temp": str(runner.temp)},
        }
        if "uses" in step:
            _stand_in(step, contexts, runner, env)
            continue
        name = step.get("name", step["run"].splitlines()[0])
        assert step.get("shell", "bash") == "bash", f"step {name!r}: only bash is run here"
        if _is_install_step(step):
            # pip cannot reach an index here: the venv already holds sagelift (the code under
            # test, on PYTHONPATH) with boto3; check that it is importable instead.
            probe = subprocess.run(
                ["python", "-c", "import boto3, sagelift"],
                env=env,
                cwd=runner.project,
                capture_output=True,
                text=True,
                check=False,
            )
            assert probe.returncode == 0, probe.stderr
            runner.log.append(f"[{run_id}] {name}: stood in by the installed venv")
            continue
        step_env = dict(env)
        step_env.update({k: _evaluate(str(v), contexts) for k, v in step.get("env", {}).items()})
        output = runner.temp / f"output-{run_id}-{number}"
        github_env = runner.temp / f"env-{run_id}-{number}"
        step_env["GITHUB_OUTPUT"] = str(output)
        step_env["GITHUB_ENV"] = str(github_env)
        script = runner.temp / f"step-{run_id}-{number}.sh"
        script.write_text(_evaluate(step["run"], contexts), encoding="utf-8")
        # GitHub's default shell on Linux runners: bash --noprofile --norc -eo pipefail {0}.
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", str(script)],
            env=step_env,
            cwd=Path(step_env["GITHUB_WORKSPACE"]) / step.get("working-directory", "."),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        runner.log.append(f"[{run_id}] {name}: exit {done.returncode}\n{done.stdout}{done.stderr}")
        assert done.returncode == 0, f"step {name!r} failed:\n{done.stdout}\n{done.stderr}"
        if "id" in step:
            steps_context[step["id"]] = {"outputs": _read_commands_file(output)}
        env.update(_read_commands_file(github_env))
    return WorkflowRun(
        summary=summary.read_text(encoding="utf-8"),
        outputs={k: v["outputs"] for k, v in steps_context.items()},
    )


# --- what the runs left behind -----------------------------------------------------------


def _local_tags(podman: PodmanCLI, repository: str) -> list[str]:
    """Tags in podman's store under ``repository`` (built images are tagged
    ``localhost/<repository>:deps-...``, pushed ones ``<registry>/<repository>:...``)."""
    listing = podman.runner(
        ["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], env=podman.env
    )
    return sorted(
        line
        for line in listing.stdout.splitlines()
        if line.rpartition(":")[0].endswith(f"/{repository}") and not line.endswith(":<none>")
    )


def _forget_local_images(podman: PodmanCLI, repository: str) -> None:
    """A fresh runner's podman store: nothing of the project's images (the base stays)."""
    tags = _local_tags(podman, repository)
    if tags:
        podman.runner(["podman", "rmi", "--force", *tags], env=podman.env)
    assert _local_tags(podman, repository) == []


def _builds(podman: PodmanCLI, repository: str) -> list[str]:
    return [t for t in _local_tags(podman, repository) if t.startswith("localhost/")]


def _registry_manifests(registry: LocalRegistry, repository: str) -> dict[str, str]:
    """tag -> manifest digest, as the registry serves them."""
    auth = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}"}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(f"{registry.url}/v2/{repository}/tags/list", headers=headers),
            timeout=30,
        ) as response:
            tags = json.load(response).get("tags") or []
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return {}
        raise
    accept = ", ".join(
        [
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        ]
    )
    digests = {}
    for tag in tags:
        request = urllib.request.Request(
            f"{registry.url}/v2/{repository}/manifests/{tag}",
            method="HEAD",
            headers={**headers, "Accept": accept},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            digests[tag] = response.headers["Docker-Content-Digest"]
    return digests


def _jobs(aws: AwsSettings) -> list[dict[str, Any]]:
    sagemaker: Any = client("sagemaker", aws)
    names = [s["TrainingJobName"] for s in sagemaker.list_training_jobs()["TrainingJobSummaries"]]
    described = [sagemaker.describe_training_job(TrainingJobName=n) for n in names]
    return sorted(described, key=lambda job: job["CreationTime"])


def _code_digest(project: Path, name: str) -> str | None:
    return records.read_record(project / ".sagelift" / "jobs" / name).code_digest


def _commit(project: Path, message: str) -> str:
    git = ["git", "-C", str(project), "-c", "user.name=ci", "-c", "user.email=ci@example.com"]
    subprocess.run([*git, "add", "-A"], check=True, capture_output=True)
    subprocess.run([*git, "commit", "-q", "-m", message], check=True, capture_output=True)
    return _head(project)


def _head(project: Path) -> str:
    head = subprocess.run(
        ["git", "-C", str(project), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    )
    return head.stdout.strip()


# --- the test -------------------------------------------------------------------------------


@pytest.fixture
def ci_project(
    make_project: MakeProject, tmp_path: Path, cpu_base_image: BaseImage, image_namespace: str
) -> Path:
    """tests/fixtures/jobs/ok as a git repository, with a requirements.txt that installs
    offline (empty; later a wheel from a directory in the project)."""
    project = make_project(
        "ok",
        name="ci-wf",
        instance_type="ml.m5.large",
        aws={
            "region": REGION,
            "role": "sagelift-ci-execution",
            "bucket": BUCKET,
            "ecr_repository": f"{image_namespace}/ci-wf",
        },
        image={"base": cpu_base_image.ref},
    )
    (project / "requirements.txt").write_text("# no dependencies yet\n", encoding="utf-8")
    (project / ".gitignore").write_text(".sagelift/\n", encoding="utf-8")
    subprocess.run(["git", "init", "-q", "-b", "main", str(project)], check=True)
    return project


@pytest.mark.usefixtures("fresh_shared_deps")
def test_every_run_step_of_the_github_workflow_builds_only_when_dependencies_change(
    ci_project: Path,
    tmp_path: Path,
    moto_endpoint: str,
    aws_settings: AwsSettings,
    podman_cli: PodmanCLI,
    auth_registry: LocalRegistry,
    image_namespace: str,
) -> None:
    project = ci_project
    repository = f"{image_namespace}/ci-wf"
    client("s3", aws_settings).create_bucket(Bucket=BUCKET)
    iam: Any = client("iam", aws_settings)
    iam.create_role(
        RoleName="sagelift-ci-execution", AssumeRolePolicyDocument=json.dumps(EXECUTION_TRUST)
    )
    home = tmp_path / "runner-home"
    temp = tmp_path / "runner-temp"
    home.mkdir()
    temp.mkdir()
    runner = Runner(
        project=project,
        home=home,
        temp=temp,
        moto=moto_endpoint,
        registry=auth_registry.host,
        podman_env=dict(podman_cli.env),
        venv_bin=Path(sys.executable).parent,
    )

    # The workflow, as the user would generate it (and commit it).
    init_env = {k: v for k, v in runner.base_env("", temp / "unused").items() if "GITHUB" not in k}
    init_env.pop("CI")
    init = subprocess.run(
        [
            sys.executable,
            "-m",
            "sagelift",
            "-C",
            str(project),
            "ci",
            "init",
            "--github",
            "--role-arn",
            CI_ROLE,
        ],
        env=init_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    workflow = yaml.safe_load((project / WORKFLOW).read_text(encoding="utf-8"))
    run_steps = [s for s in workflow["jobs"]["train"]["steps"] if "run" in s]
    assert len(run_steps) == 3
    assert sum(map(_is_install_step, run_steps)) == 1
    assert "push" in workflow.get("on", workflow.get(True))

    try:
        # 1. The first push: one build, one push, one job in the pushed image.
        run = run_workflow(runner, workflow, _commit(project, "first"), 1)
        assert len(_builds(podman_cli, repository)) == 1
        assert len(_local_tags(podman_cli, repository)) == 3  # built, pushed, deps-inputs
        first_manifests = _registry_manifests(auth_registry, repository)
        assert len(first_manifests) == 2, first_manifests  # content tag and deps-inputs tag
        assert len(set(first_manifests.values())) == 1, first_manifests
        (first,) = _jobs(aws_settings)
        image = first["AlgorithmSpecification"]["TrainingImage"]
        assert image == run.outputs["image"]["uri"]
        tagged, _, digest = image.partition("@")
        assert tagged.startswith(f"{auth_registry.host}/{repository}:deps-inputs-")
        assert first_manifests[tagged.rpartition(":")[2]] == digest
        assert first["TrainingJobName"] in run.summary
        _forget_local_images(podman_cli, repository)

        # 2. Only the code changed: nothing built or pushed, a job with the new code.
        train = project / "train.py"
        train.write_text(train.read_text(encoding="utf-8") + "print('v2')\n", encoding="utf-8")
        run = run_workflow(runner, workflow, _commit(project, "code only"), 2)
        assert _local_tags(podman_cli, repository) == [], "nothing built, pulled or tagged"
        assert _registry_manifests(auth_registry, repository) == first_manifests
        first_again, second = _jobs(aws_settings)
        assert first_again["TrainingJobName"] == first["TrainingJobName"]
        assert second["AlgorithmSpecification"]["TrainingImage"] == image
        assert second["TrainingJobName"] in run.summary
        first_code = _code_digest(project, first["TrainingJobName"])
        second_code = _code_digest(project, second["TrainingJobName"])
        assert first_code is not None
        assert first_code != second_code

        # 3. The requirements changed: one build, one push, a job in the new image.
        wheelhouse = project / "wheelhouse"
        wheelhouse.mkdir()
        probe = f"sagelift-ci-probe-{image_namespace[-10:]}"
        make_wheel(wheelhouse, name=probe, version="1.0", module_source="VALUE = 1\n")
        (project / "requirements.txt").write_text(
            f"--no-index\n--find-links wheelhouse\n{probe}==1.0\n", encoding="utf-8"
        )
        run = run_workflow(runner, workflow, _commit(project, "requirements"), 3)
        assert len(_builds(podman_cli, repository)) == 1
        manifests = _registry_manifests(auth_registry, repository)
        assert {t: d for t, d in manifests.items() if t in first_manifests} == first_manifests
        new_digests = set(manifests.values()) - set(first_manifests.values())
        assert len(new_digests) == 1, manifests
        assert len(manifests) == 2 * len(first_manifests)
        jobs = _jobs(aws_settings)
        assert len(jobs) == 3
        third_image = jobs[2]["AlgorithmSpecification"]["TrainingImage"]
        assert third_image == run.outputs["image"]["uri"]
        assert third_image.partition("@")[2] == next(iter(new_digests))
        assert jobs[2]["TrainingJobName"] in run.summary
        _forget_local_images(podman_cli, repository)

        # 4. A manual run with hyperparameters and an instance type: nothing built or
        # pushed, the job gets both.
        run = run_workflow(
            runner,
            workflow,
            _head(project),
            4,
            inputs={"hyperparameters": "epochs=3 name=manual", "instance_type": "ml.c5.xlarge"},
        )
        assert _local_tags(podman_cli, repository) == []
        assert _registry_manifests(auth_registry, repository) == manifests
        jobs = _jobs(aws_settings)
        assert len(jobs) == 4
        fourth = jobs[3]
        assert fourth["AlgorithmSpecification"]["TrainingImage"] == third_image
        assert fourth["ResourceConfig"]["InstanceType"] == "ml.c5.xlarge"
        assert fourth["HyperParameters"]["epochs"] == "3"
        assert fourth["TrainingJobName"] in run.summary
    except AssertionError:
        print("\n\n".join(runner.log))
        raise
