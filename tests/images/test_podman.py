"""Real images with real podman (runc) and a real registry on loopback."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

import sagelift
from sagelift.errors import ImageError
from sagelift.images.base import (
    BaseImage,
    BaseImageSpec,
    GpuBaseSpec,
    ensure_base_image,
    ensure_gpu_base_image,
)
from sagelift.images.builder import Mount, PodmanCLI
from sagelift.images.deps import (
    SHARED_DEPS_REPOSITORY,
    ensure_code_image,
    ensure_deps_image,
    push_image,
)
from sagelift.images.refs import parse_image_ref
from tests.container_infra import LocalRegistry, cache_dir
from tests.images.package_index import make_wheel, serve_index

pytestmark = pytest.mark.slow


def run_python(cli: PodmanCLI, ref: str, code: str, **kwargs: object) -> tuple[int, str]:
    process = cli.run(
        ref,
        entrypoint="python3",
        args=["-c", code],
        remove=True,
        network="none",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **kwargs,  # type: ignore[arg-type]
    )
    out, _ = process.communicate(timeout=120)
    return process.returncode, out.decode()


def make_project(root: Path, requirements: str) -> Path:
    root.mkdir()
    (root / "requirements.txt").write_text(requirements)
    (root / "train.py").write_text("print('training')\n")
    return root


def test_base_image_is_offline_cached_and_has_python(
    podman_cli: PodmanCLI, cpu_base_image: BaseImage
) -> None:
    started = time.monotonic()
    again = ensure_base_image(podman_cli, cache_dir=cache_dir())
    assert time.monotonic() - started < 10, "a cached base must not bootstrap again"
    assert again == cpu_base_image
    assert cpu_base_image.python_version == "3.11"
    code, out = run_python(
        podman_cli,
        cpu_base_image.ref,
        "import ctypes, ssl, sys; ctypes.CDLL('libstdc++.so.6');"
        " print('%d.%d' % sys.version_info[:2])",
    )
    assert (code, out.strip()) == (0, "3.11")


def test_base_image_with_wheels_installs_them_offline(
    podman_cli: PodmanCLI, image_namespace: str, tmp_path: Path
) -> None:
    wheel = make_wheel(
        tmp_path, name="sagelift-base-probe", version="1.0", module_source="VALUE = 'in-base'\n"
    )
    spec = BaseImageSpec(wheels=(wheel,), repository=f"localhost/{image_namespace}/base")
    base = ensure_base_image(podman_cli, spec, cache_dir=cache_dir())
    rc, out = run_python(
        podman_cli,
        base.ref,
        "import glob, sagelift_base_probe as p; print(p.VALUE, glob.glob('/tmp/*wheels*'))",
    )
    assert (rc, out.strip()) == (0, "in-base []")


@pytest.mark.usefixtures("fresh_shared_deps")
def test_identical_dependencies_are_built_once_across_projects(
    podman_cli: PodmanCLI, cpu_base_image: BaseImage, image_namespace: str, tmp_path: Path
) -> None:
    package = tmp_path / "sagelift"
    shutil.copytree(Path(sagelift.__file__).parent, package)
    # A marker file makes the content (and so the tag) this test's own.
    (package / f"marker-{uuid.uuid4().hex}.py").write_text("", encoding="utf-8")
    built = [
        ensure_deps_image(
            podman_cli,
            base=cpu_base_image,
            requirements=None,
            repository=f"localhost/{image_namespace}/{name}",
            cache_dir=tmp_path / "cache",
            package_dir=package,
        )
        for name in ("first-project", "second-project")
    ]
    assert [b.built for b in built] == [True, False]
    assert built[0].ref.split(":")[1] == built[1].ref.split(":")[1]
    assert built[1].ref.startswith(f"localhost/{image_namespace}/second-project:deps-")
    assert built[0].image_id == built[1].image_id
    shared = f"{SHARED_DEPS_REPOSITORY}:{built[0].ref.split(':')[1]}"
    assert podman_cli.image_id(shared) == built[0].image_id
    podman_cli.remove_image(shared)


@pytest.mark.usefixtures("fresh_shared_deps")
def test_deps_image_builds_once_pushes_pulls_and_runs(
    podman_cli: PodmanCLI,
    cpu_base_image: BaseImage,
    local_registry: LocalRegistry,
    image_namespace: str,
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "proj", "six\n")
    repository = f"localhost/{image_namespace}/proj"
    # A snapshot of the shipped package: the deps tag covers its bytes, so it must hold still.
    package = tmp_path / "sagelift"
    shutil.copytree(Path(sagelift.__file__).parent, package)
    deps = ensure_deps_image(
        podman_cli,
        base=cpu_base_image,
        requirements=project / "requirements.txt",
        repository=repository,
        cache_dir=tmp_path / "cache",
        package_dir=package,
    )
    assert deps.built
    assert deps.ref.startswith(f"{repository}:deps-")
    assert any(w.startswith("six-") for w in deps.inputs.wheels)  # type: ignore[union-attr]

    again = ensure_deps_image(
        podman_cli,
        base=cpu_base_image,
        requirements=project / "requirements.txt",
        repository=repository,
        cache_dir=tmp_path / "cache",
        package_dir=package,
    )
    assert not again.built
    assert (again.ref, again.image_id) == (deps.ref, deps.image_id)

    code = ensure_code_image(podman_cli, deps=deps, code_dir=project, repository=repository)
    assert code.built
    rc, out = run_python(podman_cli, code.ref, "import os, six; print(sorted(os.listdir('.')))")
    assert (rc, out.strip()) == (0, "['requirements.txt', 'train.py']")

    (project / "train.py").write_text("print('changed')\n")
    changed = ensure_code_image(podman_cli, deps=deps, code_dir=project, repository=repository)
    assert changed.built
    assert changed.ref != code.ref
    unchanged_deps = ensure_deps_image(
        podman_cli,
        base=cpu_base_image,
        requirements=project / "requirements.txt",
        repository=repository,
        cache_dir=tmp_path / "cache",
        package_dir=package,
    )
    assert (unchanged_deps.ref, unchanged_deps.built) == (deps.ref, False)

    target = parse_image_ref(deps.ref).with_registry(local_registry.host)
    pinned = push_image(podman_cli, deps.ref, target, tls_verify=False)
    assert pinned.startswith(f"{target}@sha256:")
    with urllib.request.urlopen(f"{local_registry.url}/v2/_catalog", timeout=5) as response:
        catalog = json.load(response)["repositories"]
    assert f"{image_namespace}/proj" in catalog

    podman_cli.remove_image(str(target))
    podman_cli.remove_image(changed.ref)
    podman_cli.remove_image(code.ref)
    podman_cli.remove_image(deps.ref)
    assert not podman_cli.image_exists(str(target))
    podman_cli.pull(pinned, tls_verify=False)
    rc, out = run_python(podman_cli, pinned, "import six; print(six.__name__)")
    assert (rc, out.strip()) == (0, "six")
    entrypoint = podman_cli.runner(
        ["podman", "image", "inspect", "--format", "{{json .Config.Entrypoint}}", pinned],
        env=podman_cli.env,
    )
    assert json.loads(entrypoint.stdout) == ["python3", "-m", "sagelift.runtime"]


def test_no_index_credential_reaches_any_layer(
    podman_cli: PodmanCLI, cpu_base_image: BaseImage, image_namespace: str, tmp_path: Path
) -> None:
    token = f"sagelift-token-{uuid.uuid4().hex}"
    marker = f"PROBE_MARKER_{uuid.uuid4().hex}"
    name = f"sagelift-probe-{uuid.uuid4().hex[:8]}"
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    make_wheel(index_dir, name=name, version="1.0", module_source=f"MARKER = {marker!r}\n")
    with serve_index(index_dir, user="probe", token=token) as index:
        pip_conf = tmp_path / "pip.conf"
        pip_conf.write_text(f"[global]\nindex-url = {index.url(with_credentials=True)}\n")
        project = make_project(
            tmp_path / "proj",
            f"--extra-index-url {index.url(with_credentials=True)}\n{name}==1.0\n",
        )
        deps = ensure_deps_image(
            podman_cli,
            base=cpu_base_image,
            requirements=project / "requirements.txt",
            repository=f"localhost/{image_namespace}/secret",
            cache_dir=tmp_path / "cache",
            pip_env={"PIP_CONFIG_FILE": str(pip_conf)},
        )
        assert any(token in _basic(header) for header in index.authorizations)
    module = name.replace("-", "_")
    rc, out = run_python(podman_cli, deps.ref, f"import {module}; print({module}.MARKER)")
    assert (rc, out.strip()) == (0, marker)

    archive = tmp_path / "image.tar"
    podman_cli.save(deps.ref, archive)
    found_marker = False
    with tarfile.open(archive) as outer:
        members = [m for m in outer.getmembers() if m.isfile()]
        assert sum(m.name.endswith(".tar") for m in members) >= 2, "expected one tar per layer"
        for member in members:
            handle = outer.extractfile(member)
            assert handle is not None
            data = handle.read()
            assert token.encode() not in data, f"credential found in {member.name}"
            found_marker = found_marker or marker.encode() in data
    assert found_marker, "the scan must see the installed package's files"


def test_login_reads_the_password_from_stdin_and_enables_push(
    podman_cli: PodmanCLI,
    cpu_base_image: BaseImage,
    auth_registry: LocalRegistry,
    image_namespace: str,
) -> None:
    target = f"{auth_registry.host}/{image_namespace}/base:1"
    podman_cli.tag(cpu_base_image.ref, target)
    with pytest.raises(ImageError) as refused:
        podman_cli.push(target, tls_verify=False)
    assert "log in" in (refused.value.hint or "")
    with pytest.raises(ImageError):
        podman_cli.login(
            auth_registry.host, username="AWS", password="wrong-password", tls_verify=False
        )
    assert auth_registry.username is not None
    assert auth_registry.password is not None
    podman_cli.login(
        auth_registry.host,
        username=auth_registry.username,
        password=auth_registry.password,
        tls_verify=False,
    )
    assert podman_cli.push(target, tls_verify=False).startswith("sha256:")


def test_gpu_variant_builds_on_a_local_stand_in(
    podman_cli: PodmanCLI, cpu_base_image: BaseImage, image_namespace: str, tmp_path: Path
) -> None:
    spec = GpuBaseSpec(
        base=cpu_base_image.ref,
        install_python=False,
        tag=f"localhost/{image_namespace}/base-gpu:standin",
    )
    gpu = ensure_gpu_base_image(podman_cli, spec)
    assert gpu.python_version == "3.11"
    rc, out = run_python(
        podman_cli,
        gpu.ref,
        "import os; print(os.environ['NVIDIA_VISIBLE_DEVICES'],"
        " os.environ['NVIDIA_DRIVER_CAPABILITIES'])",
    )
    assert (rc, out.strip()) == (0, "all compute,utility")
    deps = ensure_deps_image(
        podman_cli,
        base=gpu,
        requirements=None,
        repository=f"localhost/{image_namespace}/gpu",
        cache_dir=tmp_path / "cache",
        accelerator="gpu",
    )
    assert deps.built
    rc, out = run_python(podman_cli, deps.ref, "import os; print(os.environ['PYTHONPATH'])")
    assert (rc, out.strip()) == (0, "/opt/sagelift")


def test_run_propagates_exit_code_env_and_mounts(
    podman_cli: PodmanCLI, cpu_base_image: BaseImage, tmp_path: Path
) -> None:
    opt_ml = tmp_path / "opt_ml"
    (opt_ml / "input").mkdir(parents=True)
    (opt_ml / "input" / "x.txt").write_text("in")
    rc, out = run_python(
        podman_cli,
        cpu_base_image.ref,
        "import os, sys; open('/opt/ml/model.txt', 'w').write(os.environ['SM_X']);"
        " print(open('/opt/ml/input/x.txt').read());"
        " sys.exit(3)",
        env={"SM_X": "42"},
        mounts=[
            Mount(source=opt_ml, target="/opt/ml"),
            Mount(source=opt_ml / "input", target="/opt/ml/input", read_only=True),
        ],
    )
    assert (rc, out.strip()) == (3, "in")
    assert (opt_ml / "model.txt").read_text() == "42"


def test_run_keeps_env_values_out_of_argv(podman_cli: PodmanCLI, cpu_base_image: BaseImage) -> None:
    secret = f"secret-{uuid.uuid4().hex}"
    process = podman_cli.run(
        cpu_base_image.ref,
        entrypoint="python3",
        args=["-c", "import os; print(os.environ['AWS_SECRET_ACCESS_KEY'])"],
        env={"AWS_SECRET_ACCESS_KEY": secret},
        remove=True,
        network="none",
        stdout=subprocess.PIPE,
    )
    out, _ = process.communicate(timeout=60)
    assert out.decode().strip() == secret
    assert isinstance(process.args, list)
    assert all(secret not in str(arg) for arg in process.args)


def _basic(header: str) -> str:
    import base64

    return base64.b64decode(header.removeprefix("Basic ")).decode() if header else ""
