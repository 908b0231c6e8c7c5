"""Which image a cloud job should run in: a prebuilt framework image only when it can run the
project's requirements, else sagelift's dependencies-only image built from them.

An image can run the project when every framework package the requirements name (torch,
tensorflow, scikit-learn, transformers) accepts the version the image ships, and the image's
Python satisfies the project's ``requires-python`` and ``.python-version``. The images are the
ones in sagelift's image table (``images/image_uris.json``). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

__all__ = ["ImageChoice", "choose_image", "parse_requirements", "sdk_contract"]

#: framework image -> the packages it ships, as the image table's version key maps to them,
#: best candidate first (a project with transformers and torch is a Hugging Face project).
_ORDER = ("huggingface", "pytorch", "tensorflow", "sklearn")
_PACKAGES = {
    "huggingface": ("transformers", "torch"),
    "pytorch": ("torch",),
    "tensorflow": ("tensorflow",),
    "sklearn": ("scikit-learn",),
}
#: What the scikit-learn images hold but the SDK's table does not say: the version each
#: image's Dockerfile installs and its Python (aws/sagemaker-scikit-learn-container,
#: docker/<version>/base/Dockerfile.cpu).
_SKLEARN = {"1.0-1": ("1.0.2", "3.7"), "1.2-1": ("1.2.1", "3.9")}
#: ``sklearn`` is the deprecated alias package of scikit-learn.
_ALIASES = {"sklearn": "scikit-learn"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageChoice:
    """``framework``/``version`` of the chosen framework image, or None for the
    dependencies-only image; ``reasons`` say why, for the written comments."""

    framework: str | None
    version: str | None
    reasons: tuple[str, ...]


def parse_requirements(lines: Iterable[str]) -> tuple[Requirement, ...]:
    """The requirement lines that parse (options, editables, URLs and comments are skipped)."""
    found = []
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            found.append(Requirement(line))
        except InvalidRequirement:
            continue
    return tuple(found)


def _contents(
    framework: str, version: str, details: Mapping[str, Any]
) -> tuple[dict[str, str], str | None]:
    """The package versions and Python (``3.10``) of one image in the table."""
    py = details.get("py")
    python = f"{py[2]}.{py[3:]}" if isinstance(py, str) and re.fullmatch(r"py3\d+", py) else None
    if framework == "sklearn":
        package, sk_python = _SKLEARN.get(version, (None, None))
        return ({"scikit-learn": package} if package else {}), sk_python
    if framework == "huggingface":
        return {"transformers": version, "torch": str(details.get("base", ""))}, python
    return {_PACKAGES[framework][0]: version}, python


def _accepts(spec: SpecifierSet, version: str) -> bool:
    try:
        return spec.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def _python_limits(
    requires_python: str | None, python_version: str | None
) -> list[tuple[str, SpecifierSet]]:
    limits = []
    if requires_python:
        try:
            spec = SpecifierSet(requires_python)
        except InvalidSpecifier:
            spec = None
        if spec is not None:
            limits.append((f"requires-python {requires_python}", spec))
    if python_version and re.fullmatch(r"3\.\d+(\.\d+)?", python_version.strip()):
        minor = ".".join(python_version.strip().split(".")[:2])
        limits.append((f".python-version {python_version.strip()}", SpecifierSet(f"=={minor}.*")))
    return limits


def choose_image(
    requirements: Sequence[Requirement],
    frameworks: Mapping[str, Any],
    *,
    requires_python: str | None = None,
    python_version: str | None = None,
) -> ImageChoice:
    """The newest framework image in ``frameworks`` (the image table's ``frameworks``) that
    can run ``requirements``, else the dependencies-only image, with the reasons."""
    wanted: dict[str, SpecifierSet] = {}
    for req in requirements:
        name = canonicalize_name(req.name)
        wanted.setdefault(_ALIASES.get(name, name), req.specifier)
    present = [fw for fw in _ORDER if fw in frameworks and _PACKAGES[fw][0] in wanted]
    if not present:
        return ImageChoice(
            framework=None,
            version=None,
            reasons=(
                "no framework package (torch, tensorflow, scikit-learn, transformers) is in the "
                "requirements: cloud jobs run the dependencies-only image built from them",
            ),
        )
    limits = _python_limits(requires_python, python_version)
    rejected: list[str] = []
    for framework in present:
        table = frameworks[framework]["versions"]
        for version in sorted(table, key=_version_key, reverse=True):
            packages, python = _contents(framework, version, table[version])
            problems = [
                f"it ships {pkg} {have}, the requirements ask {pkg}{wanted[pkg]}"
                for pkg, have in packages.items()
                if pkg in wanted and not _accepts(wanted[pkg], have)
            ]
            problems += [
                f"it runs Python {python}, the project's {label}"
                for label, spec in limits
                if python is None or not _accepts(spec, python)
            ]
            if not problems:
                fits = ", ".join(f"{p} {v}" for p, v in packages.items() if p in wanted)
                asked = ", ".join(f"{p}{wanted[p]}" for p in packages if p in wanted)
                return ImageChoice(
                    framework=framework,
                    version=version,
                    reasons=(
                        f"the {framework} {version} image (Python {python or '3'}, {fits}) "
                        f"satisfies the requirements ({asked})"
                        + (" and " + ", ".join(label for label, _ in limits) if limits else ""),
                    ),
                )
            rejected.append(f"{framework} {version}: {'; '.join(problems)}")
    return ImageChoice(
        framework=None,
        version=None,
        reasons=(
            "no framework image in sagelift's table can run these requirements, so cloud jobs "
            "run the dependencies-only image built from them:",
            *rejected,
        ),
    )


def sdk_contract(requirements: Sequence[Requirement]) -> tuple[str, str] | None:
    """``("v3", why)`` when the requirements ask for SageMaker Python SDK v3 (``sagemaker``
    pinned to 3.x and above only, or its ``sagemaker-train`` package), else None."""
    for req in requirements:
        name = canonicalize_name(req.name)
        if name == "sagemaker-train":
            return "v3", f"the requirements name {req} (SDK v3's training package)"
        spec = req.specifier
        if name == "sagemaker" and str(spec):
            v2 = any(_accepts(spec, v) for v in ("2.0.0", "2.232.0", "2.999.0"))
            v3 = any(_accepts(spec, v) for v in ("3.0.0", "3.5.0", "3.99.0"))
            if v3 and not v2:
                return "v3", f"the requirements ask {req} (SDK v3)"
    return None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))
