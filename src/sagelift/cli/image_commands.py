"""``sagelift image build|push|dockerfile``: the project's image, made by hand.

``run`` builds and pushes the image it needs by itself; these commands do the same steps on
request (to warm a cache, publish ahead of a run, or take over the Containerfile). Heavy
modules are imported inside the handlers, so ``sagelift --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sagelift.aws import resolve_region
from sagelift.cli import render
from sagelift.errors import UsageError

if TYPE_CHECKING:
    from sagelift.settings import Settings
    from sagelift.spec import JobSpec

__all__ = ["COMMANDS", "register"]

DEFAULT_DOCKERFILE = "Dockerfile"

_CONTEXT_NOTE = """\
# Written by 'sagelift image dockerfile'. The build context it expects (what
# 'sagelift image build' stages by itself):
#   wheels/                    the project's wheels: pip download -r requirements.txt -d wheels
#   wheels/requirements.lock   one 'name==version' line per wheel
#   sagelift/                  the sagelift package directory
# Then run jobs in the image you build: image.uri = "<your image>" in sagelift.toml.
"""


_FRAMEWORK_NOTE = """\
# Written by 'sagelift image dockerfile' for a project whose jobs run a prebuilt framework
# image (image.framework). Build it from the project directory, push it, and set
# image.uri = "<your image>" in sagelift.toml: jobs keep the framework kind, and the
# image's toolkit still runs your code, with the requirements already installed.
"""


def register(subparsers: Any) -> None:
    """Add ``image build|push|dockerfile`` to ``subparsers`` (from ``add_subparsers``)."""
    image = subparsers.add_parser(
        "image",
        help="build, push or write out the project's container image",
        description="The image jobs run in: 'deps' (the project's dependencies and the "
        "launcher, no code; the default) or 'code' (the code baked in as well). Its tag is a "
        "digest of everything that determines it, so an existing tag is never rebuilt or "
        "pushed again.",
    )
    actions = image.add_subparsers(dest="image_action", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help="build the image unless its tag exists (with image.uri or image.framework: pull "
        "that image when it is missing here)",
    )
    push = actions.add_parser(
        "push",
        help="build if needed, then push to ECR (or aws.registry) unless the registry has it",
    )
    push.add_argument(
        "--if-missing",
        action="store_true",
        help="build nothing when the registry has an image for the same dependency inputs "
        "(requirements file, sagelift, accelerator, image.base): one registry request",
    )
    dockerfile = actions.add_parser(
        "dockerfile", help="write the generated Dockerfile, for projects that want to own it"
    )
    dockerfile.add_argument(
        "path",
        nargs="?",
        default=DEFAULT_DOCKERFILE,
        help="where, relative to the project (default: Dockerfile)",
    )
    dockerfile.add_argument("--force", action="store_true", help="replace an existing file")
    dockerfile.add_argument(
        "--base", help="FROM image (default: image.base, else a python slim or CUDA image)"
    )
    for parser in (build, push, dockerfile):
        parser.add_argument(
            "--mode",
            choices=("deps", "code"),
            help="deps: dependencies only (default); code: the project code baked in too",
        )
        parser.add_argument(
            "--gpu",
            action="store_true",
            help="the GPU (CUDA) variant (default: when the instance type has a GPU)",
        )
        parser.add_argument("--profile", help="use [profile.NAME] from the config files")


def cmd_image(args: argparse.Namespace, project: Path) -> int:
    from sagelift import jobs

    spec = _image_spec(project, args)
    settings = _with_mode(jobs.load_settings(project, profile=args.profile), args)
    accelerator = _accelerator(spec, gpu=args.gpu)
    if args.image_action == "build":
        return _build(spec, settings, accelerator)
    if args.image_action == "push":
        if args.if_missing:
            return _push_if_missing(spec, settings, accelerator)
        return _push(spec, settings, accelerator)
    return _dockerfile(spec, settings, accelerator, args)


def _image_spec(project: Path, args: argparse.Namespace) -> JobSpec:
    """The project's spec for its image. An image holds the dependencies (and in ``code`` mode
    the source dir), never the entry point, so a project without one (no sagelift.toml, only
    requirements.txt) gets a stand-in that nothing runs."""
    from sagelift import jobs
    from sagelift.errors import SpecError

    try:
        return jobs.load_spec(project, profile=args.profile)
    except SpecError as exc:
        if exc.field != "entry_point" or not exc.message.startswith("no entry point"):
            raise
    return jobs.load_spec(project, profile=args.profile, entry_point=list(_NO_ENTRY_POINT))


def _with_mode(settings: Settings, args: argparse.Namespace) -> Settings:
    """``settings`` asking for the image this command makes: ``--mode`` wins over
    ``image.uri``/``image.framework``. Without it, ``build`` makes that image ready here
    (pulled when missing), ``dockerfile`` extends the framework image, and ``push`` has
    nothing to push."""
    image = settings.image
    if args.mode is not None:
        return replace(settings, image=replace(image, mode=args.mode, uri=None, framework=None))
    if image.uri or image.framework:
        if args.image_action == "build" or (
            args.image_action == "dockerfile" and image.framework and not image.uri
        ):
            return settings
        if args.image_action == "push":
            key = "image.uri" if image.uri else "image.framework"
            raise UsageError(
                f"{key} is set: jobs run that image from its own registry, and sagelift "
                "pushes none",
                hint=f"drop {key} to build and push the project's own image, or pass --mode deps",
            )
    if image.mode in (None, "deps", "code"):
        return replace(settings, image=replace(image, uri=None, framework=None))
    return replace(settings, image=replace(image, mode="deps", uri=None, framework=None))


def _offline_base(settings: Settings) -> str | None:
    """The offline CPU base ``image build`` uses, made as the build makes it (cached), or None
    when no container CLI is installed."""
    from sagelift.errors import ImageError
    from sagelift.images.base import default_cache_dir
    from sagelift.images.service import base_image, container_cli_for

    try:
        cli = container_cli_for(settings.image)
    except ImageError:
        return None
    return base_image(settings, cli, "cpu", default_cache_dir(os.environ)).ref


def _accelerator(spec: JobSpec, *, gpu: bool) -> Literal["cpu", "gpu"]:
    from sagelift.backends.sagemaker.images import is_gpu_instance

    if gpu or spec.instance_type == "local_gpu" or is_gpu_instance(spec.instance_type):
        return "gpu"
    return "cpu"


def _build(spec: JobSpec, settings: Settings, accelerator: Literal["cpu", "gpu"]) -> int:
    from sagelift.images.service import container_cli_for, local_image

    cli = container_cli_for(settings.image)
    image = local_image(spec, settings, cli, accelerator=accelerator)
    if image.mode in ("uri", "framework"):
        what = "the framework image" if image.mode == "framework" else "image.uri"
        render.line(f"sagelift: {what} is on this machine (pulled when missing); nothing built")
    elif image.built:
        render.line(f"sagelift: built the {image.mode} image with {cli.name}")
    else:
        render.line(f"sagelift: the {image.mode} image exists already; build skipped")
    render.out(image.ref)
    return 0


def _push(spec: JobSpec, settings: Settings, accelerator: Literal["cpu", "gpu"]) -> int:
    from sagelift.images.service import push_for_spec

    region = resolve_region(settings.aws, required=True)
    assert region is not None
    pushed = push_for_spec(spec, settings, region=region, accelerator=accelerator)
    built = "built" if pushed.built else "exists already; build skipped"
    if pushed.pushed:
        render.line(f"sagelift: image {built}; pushed")
    else:
        render.line(f"sagelift: image {built}; the registry has it, push skipped")
    render.out(pushed.uri)
    return 0


def _push_if_missing(spec: JobSpec, settings: Settings, accelerator: Literal["cpu", "gpu"]) -> int:
    from sagelift.images.reuse import push_if_missing

    region = resolve_region(settings.aws, required=True)
    assert region is not None
    pushed = push_if_missing(spec, settings, region=region, accelerator=accelerator)
    if pushed.pushed:
        built = "built" if pushed.built else "found locally"
        render.line(f"sagelift: no image for these dependencies in the registry; {built}, pushed")
    else:
        render.line("sagelift: the registry has an image for these dependencies; nothing built")
    render.out(pushed.uri)
    return 0


def _dockerfile(
    spec: JobSpec,
    settings: Settings,
    accelerator: Literal["cpu", "gpu"],
    args: argparse.Namespace,
) -> int:
    target = spec.project_dir / args.path
    if target.exists() and not args.force:
        raise UsageError(
            f"{target} exists already",
            hint="pass --force to replace it, or give another PATH",
        )
    if settings.image.framework and args.base is None:
        text, what = _framework_text(spec, settings, accelerator), "framework"
    else:
        plain = replace(settings, image=replace(settings.image, framework=None))
        text = f"{_CONTEXT_NOTE}\n{_render(spec, plain, accelerator, base=args.base)}"
        what = settings.image.mode or "deps"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    render.line(f"sagelift: wrote the {what} image's Dockerfile")
    render.out(os.fspath(target))
    return 0


def _framework_text(spec: JobSpec, settings: Settings, accelerator: Literal["cpu", "gpu"]) -> str:
    """The Dockerfile of a framework project: its framework image (what ``image build`` makes
    ready), extended with the project's requirements when it has some."""
    from sagelift.images.dockerfile import render_framework_dockerfile
    from sagelift.images.service import framework_ref, project_requirements

    requirements = project_requirements(spec)
    root = spec.project_dir.resolve()
    relative, note = None, _FRAMEWORK_NOTE
    if requirements is not None and requirements.resolve().is_relative_to(root):
        relative = requirements.resolve().relative_to(root).as_posix()
    elif requirements is not None:
        note += f"# ({requirements} is outside the project, so it is not copied in.)\n"
    dockerfile = render_framework_dockerfile(
        framework_ref=framework_ref(settings, accelerator=accelerator), requirements=relative
    )
    return f"{note}\n{dockerfile}"


def _render(
    spec: JobSpec, settings: Settings, accelerator: Literal["cpu", "gpu"], *, base: str | None
) -> str:
    """The project's Containerfile on ``base`` (else ``image.base``); for CPU else on the
    offline Debian base that ``image build`` uses (made here as the build makes it, when a
    container CLI is installed; without one, a Python slim image, said in the file); for GPU
    the CUDA base sagelift builds first, with Python added."""
    from sagelift.images.base import GpuBaseSpec
    from sagelift.images.dockerfile import render_gpu_base_dockerfile
    from sagelift.images.service import render_project_dockerfile

    chosen = base or settings.image.base
    if chosen is not None:
        return render_project_dockerfile(spec, settings, base_ref=chosen)
    if accelerator == "cpu":
        offline = _offline_base(settings)
        if offline is not None:
            return render_project_dockerfile(spec, settings, base_ref=offline)
        python = f"{sys.version_info[0]}.{sys.version_info[1]}"
        slim = f"docker.io/library/python:{python}-slim-bookworm"
        return (
            "# 'sagelift image build' builds on its offline Debian base (bookworm, python3); no\n"
            f"# container CLI was found to make it here, so this names {slim}.\n"
            f"{render_project_dockerfile(spec, settings, base_ref=slim)}"
        )
    gpu = GpuBaseSpec()
    return (
        f"{render_gpu_base_dockerfile(base=gpu.base)}\n"
        f"# --- then, with the image above tagged {gpu.tag}:\n"
        f"{render_project_dockerfile(spec, settings, base_ref=gpu.tag)}"
    )


#: The stand-in entry point of an image-only spec (SageMaker's argument to a training image).
_NO_ENTRY_POINT = ("train",)

COMMANDS: dict[str, Callable[[argparse.Namespace, Path], int]] = {"image": cmd_image}
