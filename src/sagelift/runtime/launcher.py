"""Run the training code once under the SageMaker contract and record how it ended.

One ``launch`` is one job attempt: read the config files, compute the SM_* environment, start
the entry point in its own process group with the code dir as working directory, relay its
output, stop it as SageMaker would (SIGTERM, grace, SIGKILL) on a signal or at the maximum
runtime, kill whatever it leaves behind, and write ``output/success`` or ``output/failure``.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from sagelift.contract.config_files import ConfigFiles, read_config_files
from sagelift.contract.distribution import TORCHRUN_MASTER_PORT, torchrun_argv
from sagelift.contract.environment import (
    entry_point_name,
    training_env,
    user_args,
    v3_driver_files,
    v3_training_env,
)
from sagelift.contract.host import detect_host_facts
from sagelift.contract.hyperparameters import (
    decode_hyperparameters,
    split_reserved,
    to_v3_cmd_args,
)
from sagelift.contract.layout import TrainingLayout
from sagelift.errors import SpecError
from sagelift.private_files import open_private
from sagelift.redaction import MASK, mask_arguments, secret_names
from sagelift.runtime.entry import EntryPoint, build_argv, check_entry, resolve_entry
from sagelift.runtime.failure import FAILURE_REASON_LIMIT, failure_reason, write_failure_file
from sagelift.runtime.mounts import BindMode, OptMlView, paths_in_view, prepare_view
from sagelift.runtime.processes import (
    StderrRelay,
    exit_status,
    kill_adopted,
    reap_adopted,
)
from sagelift.runtime.signals import StopController, StopReason, kill_group
from sagelift.runtime.status import LaunchState, LaunchStatus, now_iso, write_status

__all__ = ["DEFAULT_GRACE_SECONDS", "LaunchRequest", "final_state", "launch"]

log = logging.getLogger(__name__)

# StopTrainingJob and MaxRuntimeInSeconds: SIGTERM, then SIGKILL 120 s later.
DEFAULT_GRACE_SECONDS = 120.0
POLL_SECONDS = 0.05
REAP_EVERY_POLLS = 20
RELAY_DRAIN_SECONDS = 5.0
STDERR_FD = 2


@dataclass(frozen=True)
class LaunchRequest:
    """What to run and how.

    At most one of ``program``, ``module`` and ``command``; with none, the ``sagemaker_program``
    hyperparameter or ``$SAGEMAKER_PROGRAM`` names the program. ``max_runtime`` of ``None``
    means no limit. ``code_tarball`` is extracted into the code dir before anything else when
    that dir is missing or empty, as the SageMaker training toolkit does with
    ``sagemaker_submit_directory``; a non-empty code dir is left as it is.
    ``hide_channels`` are dropped from the config the SM_* variables are computed from, so the
    training code sees only its own channels (the code channel sagelift adds is one).
    ``adopt_orphans`` declares that every child of this process other than the
    job belongs to the job (true for the CLI once it is a subreaper or PID 1); the launcher
    then kills and reaps them when the job ends. ``byo`` runs the entry point as SageMaker runs
    a bring-your-own image: no hyperparameters as arguments and no SM_* variables (those come
    from the training toolkit, which such an image does not have). ``hosts`` > 1 runs the
    job staged under ``root`` as that many hosts (``sagelift.runtime.hosts``).
    ``processes_per_host`` is torchrun's ``--nproc_per_node`` when the hyperparameters enable
    ``torch_distributed`` or ``pytorchddp`` (default: one per GPU, at least one).
    ``code_on_path`` puts the code dir first on the child's ``PYTHONPATH``, as the toolkit of a
    framework image does, so modules beside the entry point import from any process of the job.
    ``master_port`` replaces torchrun's fixed master port 7777 (set by ``run_hosts``, whose
    hosts share this machine's ports with other jobs).
    """

    root: Path
    program: str | None = None
    module: str | None = None
    command: tuple[str, ...] | None = None
    python: str = sys.executable
    max_runtime: float | None = None
    grace: float = DEFAULT_GRACE_SECONDS
    bind_opt_ml: BindMode = "off"
    status_file: Path | None = None
    code_tarball: Path | None = None
    hide_channels: tuple[str, ...] = ()
    overlays: tuple[tuple[str, Path], ...] = ()
    adopt_orphans: bool = False
    byo: bool = False
    hosts: int = 1
    processes_per_host: int | None = None
    code_on_path: bool = False
    contract: str = "v2"
    job_name: str | None = None
    master_port: str | None = None


def launch(request: LaunchRequest, *, environ: Mapping[str, str] | None = None) -> LaunchStatus:
    """Run the job described by ``request`` to its end and return how it ended.

    ``environ`` (default ``os.environ``) is the base of the child's environment; the SM_*
    variables and ``PYTHONUNBUFFERED=1`` are laid over it. Must be called from the main
    thread (it installs signal handlers) and, for ``bind_opt_ml``, before any other thread
    starts. The status file, when requested, is written last.

    Raises:
        SpecError: unreadable config files, or an entry point that cannot start; nothing was
            started.
        StorageError: the code tarball is missing, damaged or unsafe; nothing was started.
        UnsupportedFeature: ``bind_opt_ml="require"`` and ``/opt/ml`` cannot be bound.
    """
    base_env = dict(os.environ if environ is None else environ)
    layout = TrainingLayout(request.root)
    config = _hide_channels(_read_config(layout), request.hide_channels)
    if request.code_tarball is not None:
        _extract_code(request.code_tarball, layout.code_dir)
    entry = resolve_entry(
        program=request.program,
        module=request.module,
        command=request.command,
        configured_program=entry_point_name(config),
        environ=base_env,
    )
    check_entry(entry, python=request.python, code_dir=layout.code_dir, path=base_env.get("PATH"))
    v3 = request.contract == "v3" and not request.byo
    if request.byo:
        args: list[str] = []
    elif v3:
        args = to_v3_cmd_args(config.hyperparameters)
    else:
        args = user_args(config)
    argv = build_argv(entry, python=request.python, user_args=args)
    if not request.byo:
        argv = _distributed_argv(argv, entry, config, request)
    view = prepare_view(request.root, request.bind_opt_ml, overlays=dict(request.overlays))
    argv = paths_in_view(argv, view)
    # The log line names the command; secret-looking hyperparameters show as ***.
    shown = mask_arguments(argv, secret_names(config.hyperparameters))
    if request.byo:
        env = {**base_env, "PYTHONUNBUFFERED": "1"}
    elif v3:
        job_name = request.job_name or base_env.get("TRAINING_JOB_NAME", "")
        env = _v3_env(base_env, view, config, layout, " ".join(entry.target), job_name)
    else:
        env = _child_env(base_env, view, config)
    if request.code_on_path:
        code_dir = str(TrainingLayout(view.root).code_dir)
        parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != code_dir]
        env["PYTHONPATH"] = os.pathsep.join([code_dir, *parts])

    controller = StopController(grace=request.grace)
    controller.install()
    try:
        status = _supervise(request, layout, view, argv, env, controller, shown=shown)
    finally:
        controller.restore()
    if request.status_file is not None:
        try:
            write_status(request.status_file, status)
        except OSError as exc:
            log.error("cannot write the status file %s: %s", request.status_file, exc)
    return status


def _read_config(layout: TrainingLayout) -> ConfigFiles:
    try:
        return read_config_files(layout)
    except (OSError, ValueError) as exc:
        raise SpecError(
            f"cannot read the job's config files in {layout.config_dir}: {exc}",
            hint="write hyperparameters.json, inputdataconfig.json and resourceconfig.json "
            "there, or pass --root",
            field="root",
        ) from exc


# The toolkit's launch for these flags is torchrun (``torch_distributed.py``); for
# ``pytorchddp`` it is ``torch.distributed.launch`` on port 55555 (``vanilla_ddp.py``), which
# torchrun supersedes; sagelift runs torchrun for both.
_TORCHRUN_FLAGS = ("sagemaker_torch_distributed_enabled", "sagemaker_pytorch_ddp_enabled")


def _distributed_argv(
    argv: list[str], entry: EntryPoint, config: ConfigFiles, request: LaunchRequest
) -> list[str]:
    """``argv`` under torchrun when the job's distribution asks for it, as the toolkit does."""
    _, reserved = split_reserved(decode_hyperparameters(config.hyperparameters))
    if not any(reserved.get(flag) is True for flag in _TORCHRUN_FLAGS):
        return argv
    if entry.kind != "program" or not entry.target[0].endswith(".py"):
        raise SpecError(
            "torch_distributed runs a Python script under torchrun; this entry point is "
            f"{entry.kind} {' '.join(entry.target)}",
            hint="make the entry point a .py script",
            field="entry_point",
        )
    per_host = request.processes_per_host or max(1, detect_host_facts().num_gpus)
    resource = config.resource_config
    return torchrun_argv(
        torchrun=[argv[0], "-m", "torch.distributed.run"],
        hosts=list(resource["hosts"]),
        current_host=str(resource["current_host"]),
        processes_per_host=per_host,
        program=argv[1:],
        master_port=request.master_port or TORCHRUN_MASTER_PORT,
    )


def _hide_channels(config: ConfigFiles, hidden: tuple[str, ...]) -> ConfigFiles:
    if not hidden:
        return config
    kept = {k: v for k, v in config.input_data_config.items() if k not in hidden}
    return replace(config, input_data_config=kept)


def _extract_code(tarball: Path, code_dir: Path) -> None:
    # sagemaker_training._files.download_and_extract: extract only into an empty directory.
    if code_dir.is_dir() and any(code_dir.iterdir()):
        log.info("code dir %s is not empty; not extracting %s", code_dir, tarball)
        return
    from sagelift.archives import safe_extract

    safe_extract(tarball, code_dir)


def _child_env(base: dict[str, str], view: OptMlView, config: ConfigFiles) -> dict[str, str]:
    try:
        contract = training_env(
            layout=TrainingLayout(view.root), config=config, host=detect_host_facts()
        )
    except KeyError as exc:
        raise SpecError(
            f"resourceconfig.json lacks {exc}",
            hint="it needs current_host and hosts, as SageMaker writes them",
            field="resource_config",
        ) from exc
    return {**base, **contract, "PYTHONUNBUFFERED": "1"}


def _v3_env(
    base: dict[str, str],
    view: OptMlView,
    config: ConfigFiles,
    layout: TrainingLayout,
    entry_script: str,
    job_name: str,
) -> dict[str, str]:
    """SDK v3's environment for the child, and the files its drivers leave in the job."""
    seen = TrainingLayout(view.root)
    try:
        contract = v3_training_env(
            layout=seen,
            config=config,
            host=detect_host_facts(),
            entry_script=entry_script,
            job_name=job_name,
            log_level=base.get("SM_LOG_LEVEL", 20),
        )
    except KeyError as exc:
        raise SpecError(
            f"resourceconfig.json lacks {exc}",
            hint="it needs current_host, current_instance_type, hosts and "
            "network_interface_name, as SageMaker writes them",
            field="resource_config",
        ) from exc
    files = v3_driver_files(contract, entry_script=entry_script, source_dir=str(seen.code_dir))
    for rel, text in files.items():
        path = layout.input_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return {**base, **contract, "PYTHONUNBUFFERED": "1"}


def _supervise(
    request: LaunchRequest,
    layout: TrainingLayout,
    view: OptMlView,
    argv: list[str],
    env: dict[str, str],
    controller: StopController,
    *,
    shown: list[str],
) -> LaunchStatus:
    started_at = now_iso()
    cwd = TrainingLayout(view.root).code_dir
    if controller.stop_reason() is not None:
        log.info("stopped before the training process started")
        code = 128 + (controller.signum or signal.SIGTERM)
        return _status("Stopped", code, None, None, started_at, view.opt_ml)
    log.info("starting %s in %s", " ".join(_quote(a) for a in shown), cwd)
    read_fd, write_fd = os.pipe()
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stderr=write_fd,
            start_new_session=True,
        )
    except OSError as exc:
        os.close(read_fd)
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        text = f"AlgorithmError: cannot start {argv[0]}: {exc.strerror}\n\nExitCode {code}\n"
        write_failure_file(layout.failure_file, text)
        return _status("Failed", code, None, _read_reason(layout), started_at, view.opt_ml)
    finally:
        os.close(write_fd)
    controller.attach(process.pid)
    relay = StderrRelay(read_fd, STDERR_FD)
    relay.start()

    returncode = _wait(process, request, controller)
    if kill_group(process.pid, signal.SIGKILL):
        log.info("killed processes the training process left in its group")
    if request.adopt_orphans and (count := kill_adopted(process.pid)):
        log.info("killed %d processes that left the training process group", count)
    if not relay.join(RELAY_DRAIN_SECONDS):
        log.warning("a process outside the job still holds its stderr open")

    exit_code, signum = exit_status(returncode)
    state = final_state(controller.stop_reason(), returncode)
    reason: str | None = None
    if state == "Completed":
        layout.success_file.parent.mkdir(parents=True, exist_ok=True)
        os.close(open_private(layout.success_file, os.O_WRONLY | os.O_CREAT))
    elif state == "Failed":
        write_failure_file(layout.failure_file, failure_reason(relay.tail(), exit_code, signum))
        reason = _read_reason(layout)
    elif state == "MaxRuntimeExceeded":
        reason = f"MaxRuntimeExceeded: the job ran longer than {request.max_runtime:g} s"
    log.info("training process ended: %s, exit code %d", state, exit_code)
    return _status(state, exit_code, signum, reason, started_at, view.opt_ml)


def _quote(arg: str) -> str:
    return arg if arg == MASK else shlex.quote(arg)


def final_state(stop_reason: StopReason | None, returncode: int) -> LaunchState:
    """A stop request decides the state whatever the exit code; otherwise exit 0 completes."""
    if stop_reason is not None:
        return stop_reason
    return "Completed" if returncode == 0 else "Failed"


def _wait(
    process: subprocess.Popen[bytes], request: LaunchRequest, controller: StopController
) -> int:
    deadline = None
    if request.max_runtime is not None:
        deadline = time.monotonic() + request.max_runtime
    polls = 0
    # Short scripts end within milliseconds: poll fast at first, then every POLL_SECONDS.
    delay = 0.002
    while (returncode := process.poll()) is None:
        if deadline is not None and controller.reason is None and time.monotonic() >= deadline:
            controller.expire()
        controller.kill_if_due()
        polls += 1
        if request.adopt_orphans and polls % REAP_EVERY_POLLS == 0:
            reap_adopted(process.pid)
        time.sleep(delay)
        delay = min(delay * 2, POLL_SECONDS)
    return returncode


def _read_reason(layout: TrainingLayout) -> str | None:
    try:
        text = layout.failure_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text[:FAILURE_REASON_LIMIT] or None


def _status(
    state: LaunchState,
    exit_code: int | None,
    signum: int | None,
    reason: str | None,
    started_at: str,
    opt_ml: str,
) -> LaunchStatus:
    return LaunchStatus(
        state=state,
        exit_code=exit_code,
        signal=signum,
        failure_reason=reason,
        started_at=started_at,
        ended_at=now_iso(),
        opt_ml=opt_ml,
    )
