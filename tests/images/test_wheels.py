from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sagelift.errors import ImageError
from sagelift.images.wheels import (
    download_wheels,
    lock_lines,
    manylinux_platforms,
    parse_wheel_filename,
    requirements_key,
)
from tests.images.package_index import PackageIndex, make_wheel, serve_index


def test_platforms_follow_the_machine() -> None:
    assert manylinux_platforms("x86_64") == (
        "manylinux2014_x86_64",
        "manylinux_2_17_x86_64",
        "manylinux_2_28_x86_64",
    )
    assert manylinux_platforms("aarch64")[0] == "manylinux2014_aarch64"
    with pytest.raises(ImageError):
        manylinux_platforms("riscv64")


def test_wheel_names_become_exact_pins() -> None:
    assert parse_wheel_filename("Jinja2-3.1.4-py3-none-any.whl") == ("jinja2", "3.1.4")
    assert parse_wheel_filename(
        "numpy-2.1.0-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    ) == ("numpy", "2.1.0")
    assert lock_lines(["six-1.17.0-py2.py3-none-any.whl", "a_b-1.0-py3-none-any.whl"]) == [
        "a-b==1.0",
        "six==1.17.0",
    ]
    with pytest.raises(ImageError):
        parse_wheel_filename("six-1.17.0.tar.gz")


def test_cache_key_depends_on_text_and_target() -> None:
    key = requirements_key("six\n", python_version="3.11", platforms=["p"])
    assert key == requirements_key("six\n", python_version="3.11", platforms=["p"])
    assert key != requirements_key("six==1\n", python_version="3.11", platforms=["p"])
    assert key != requirements_key("six\n", python_version="3.12", platforms=["p"])


@pytest.fixture
def private_index(tmp_path: Path) -> Iterator[tuple[str, PackageIndex]]:
    files = tmp_path / "index"
    files.mkdir()
    name = f"sagelift-probe-{uuid.uuid4().hex[:8]}"
    make_wheel(files, name=name, version="1.0", module_source="VALUE = 1\n")
    make_wheel(files, name=name, version="2.0", module_source="VALUE = 2\n")
    with serve_index(files, user="probe", token=uuid.uuid4().hex) as index:
        yield name, index


def test_download_uses_the_host_pip_config_and_caches(
    tmp_path: Path, private_index: tuple[str, PackageIndex]
) -> None:
    name, index = private_index
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = {index.url(with_credentials=True)}\n")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"{name}<2\n")
    env = {"PIP_CONFIG_FILE": str(conf)}
    wheels = download_wheels(
        requirements, python_version="3.11", cache_dir=tmp_path / "cache", env=env
    )
    module = name.replace("-", "_")
    assert wheels.wheels == (f"{module}-1.0-py3-none-any.whl",)
    assert (wheels.directory / wheels.wheels[0]).is_file()
    assert any(index.token in _decoded(h) for h in index.authorizations)

    seen = len(index.authorizations)
    again = download_wheels(
        requirements, python_version="3.11", cache_dir=tmp_path / "cache", env=env
    )
    assert again == wheels
    assert len(index.authorizations) == seen, "a cached set must not query the index"


def test_missing_package_is_an_image_error_with_a_hint(
    tmp_path: Path, private_index: tuple[str, PackageIndex]
) -> None:
    _, index = private_index
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = {index.url(with_credentials=True)}\n")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("sagelift-no-such-package-xyz==1.0\n")
    with pytest.raises(ImageError) as caught:
        download_wheels(
            requirements,
            python_version="3.11",
            cache_dir=tmp_path / "cache",
            env={"PIP_CONFIG_FILE": str(conf), "PIP_FIND_LINKS": ""},
        )
    assert caught.value.hint
    assert not list((tmp_path / "cache" / "wheels").iterdir()), "no partial cache entry"


def test_empty_requirements_need_no_pip(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# nothing\n\n")
    wheels = download_wheels(
        requirements, python_version="3.11", cache_dir=tmp_path / "cache", pip=["false"]
    )
    assert wheels.wheels == ()


def _decoded(header: str) -> str:
    return base64.b64decode(header.removeprefix("Basic ")).decode() if header else ""
