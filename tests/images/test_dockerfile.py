from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from sagelift.images.dockerfile import (
    CodeImageInputs,
    DepsImageInputs,
    image_tag,
    render_code_dockerfile,
    render_deps_dockerfile,
    render_gpu_base_dockerfile,
)

GOLDEN = Path(__file__).parent / "golden"
BASE = "localhost/sagelift/base:bookworm-0123456789abcdef"

DEPS = DepsImageInputs(
    base_ref=BASE,
    base_id="1" * 64,
    python_version="3.11",
    requirements_digest="2" * 64,
    wheels=("numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.whl", "six-1.17.0-py2.py3-none-any.whl"),
    launcher_version="0.1.0+abcdef012345",
)


def test_deps_dockerfile_matches_golden() -> None:
    text = render_deps_dockerfile(base_ref=BASE, has_wheels=True, labels={"io.sagelift.x": "y"})
    assert text == (GOLDEN / "deps.Containerfile").read_text(encoding="utf-8")


def test_code_and_gpu_dockerfiles_match_golden() -> None:
    assert render_code_dockerfile(deps_ref="localhost/p:deps-1") == (
        GOLDEN / "code.Containerfile"
    ).read_text(encoding="utf-8")
    assert render_gpu_base_dockerfile() == (GOLDEN / "gpu-base.Containerfile").read_text(
        encoding="utf-8"
    )


def test_wheels_never_reach_the_final_stage() -> None:
    text = render_deps_dockerfile(base_ref=BASE, has_wheels=True)
    builder, final = text.split(f"\nFROM {BASE}\n")
    install = next(line for line in builder.splitlines() if "pip install" in line)
    assert "--no-index --find-links /tmp/wheels" in install
    assert install.endswith("&& rm -rf /tmp/wheels")
    assert "COPY wheels/ " not in final
    assert "/tmp/wheels" not in final
    assert 'ENTRYPOINT ["python3", "-m", "sagelift.runtime"]' in final
    assert "WORKDIR /opt/ml/code" in final
    assert "PYTHONUNBUFFERED=1" in final


def test_deps_dockerfile_without_wheels_has_one_stage() -> None:
    text = render_deps_dockerfile(base_ref=BASE, has_wheels=False)
    assert text.count("FROM ") == 1
    assert "wheels" not in text


def test_gpu_base_on_a_stand_in_skips_python_install() -> None:
    text = render_gpu_base_dockerfile(base=BASE, install_python=False)
    assert f"FROM {BASE}" in text
    assert "NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility" in text
    assert "apt-get" not in text


def test_tag_ignores_wheel_order_and_has_a_kind_prefix() -> None:
    shuffled = dataclasses.replace(DEPS, wheels=tuple(reversed(DEPS.wheels)))
    assert image_tag(shuffled) == image_tag(DEPS)
    assert image_tag(DEPS).startswith("deps-")
    code = CodeImageInputs(deps_ref="r", deps_id="i", code_digest="c")
    assert image_tag(code).startswith("code-")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("base_ref", "localhost/other:1"),
        ("base_id", "9" * 64),
        ("python_version", "3.12"),
        ("requirements_digest", "3" * 64),
        ("wheels", ("six-1.16.0-py2.py3-none-any.whl",)),
        ("launcher_version", "0.2.0+abcdef012345"),
        ("accelerator", "gpu"),
    ],
)
def test_every_input_changes_the_deps_tag(field: str, value: Any) -> None:
    assert image_tag(dataclasses.replace(DEPS, **{field: value})) != image_tag(DEPS)


def test_code_changes_change_only_the_code_tag() -> None:
    deps_tag = image_tag(DEPS)
    first = CodeImageInputs(deps_ref=f"p:{deps_tag}", deps_id="i", code_digest="a" * 64)
    second = dataclasses.replace(first, code_digest="b" * 64)
    assert image_tag(first) != image_tag(second)
    assert image_tag(DEPS) == deps_tag
