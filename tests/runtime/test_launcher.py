"""The launcher run as a real process on tiny real training scripts."""

from __future__ import annotations

import json
import sys

from sagelift.runtime.failure import FAILURE_REASON_LIMIT
from tests.runtime.conftest import MakeJob


def test_success_writes_success_file_and_exits_zero(make_job: MakeJob) -> None:
    job = make_job()
    job.write(
        "train.py",
        """
        import os
        with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as f:
            f.write("weights")
        print("trained")
        """,
    )
    result = job.run()
    assert result.returncode == 0, result.stderr
    assert "trained" in result.stdout
    assert job.layout.success_file.exists()
    assert not job.layout.failure_file.exists()
    assert (job.layout.model_dir / "model.txt").read_text() == "weights"
    status = job.status()
    assert status["state"] == "Completed"
    assert status["exit_code"] == 0
    assert status["signal"] is None
    assert status["failure_reason"] is None
    assert status["opt_ml"] == "off"
    assert status["started_at"] <= status["ended_at"]


def test_the_launcher_needs_nothing_but_the_standard_library(make_job: MakeJob) -> None:
    job = make_job()
    job.write("train.py", "import sys\nprint('site' in sys.modules)\n")
    # -S: no site-packages at all, only the stdlib and src/ on PYTHONPATH.
    result = job.run("--python", sys.executable, launcher=(sys.executable, "-S"))
    assert result.returncode == 0, result.stderr
    assert job.layout.success_file.exists()


def test_hyperparameters_arrive_as_cli_args_and_environment(make_job: MakeJob) -> None:
    job = make_job({"epochs": 3, "lr": 0.01, "optimizer": "adam"})
    job.write(
        "train.py",
        """
        import json, os, sys
        out = {
            "argv": sys.argv[1:],
            "cwd": os.getcwd(),
            "hps": json.loads(os.environ["SM_HPS"]),
            "model_dir": os.environ["SM_MODEL_DIR"],
            "train": os.environ["SM_CHANNEL_TRAIN"],
            "unbuffered": os.environ.get("PYTHONUNBUFFERED"),
            "job": os.environ.get("TRAINING_JOB_NAME"),
        }
        with open(os.path.join(os.environ["SM_MODEL_DIR"], "seen.json"), "w") as f:
            json.dump(out, f)
        """,
    )
    result = job.run()
    assert result.returncode == 0, result.stderr
    seen = json.loads((job.layout.model_dir / "seen.json").read_text())
    assert seen["argv"] == ["--epochs", "3", "--lr", "0.01", "--optimizer", "adam"]
    assert seen["hps"] == {"epochs": 3, "lr": 0.01, "optimizer": "adam"}
    assert seen["cwd"] == str(job.layout.code_dir)
    assert seen["model_dir"] == str(job.layout.model_dir)
    assert seen["train"] == str(job.layout.channel_dir("train"))
    assert seen["unbuffered"] == "1"
    assert seen["job"] == "sagelift-test-job"


def test_arguments_naming_opt_ml_name_the_layout_where_it_is_not_bound(make_job: MakeJob) -> None:
    """Not bound on /opt/ml (here: ``--bind-opt-ml off``), a hyperparameter naming a path under
    it, such as TensorFlow's ``model_dir``, reaches the script as the same place in the layout;
    other values are left as they are."""
    job = make_job({"model_dir": "/opt/ml/model", "other": "/opt/mlx", "top": "/opt/ml"})
    job.write("train.py", "import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    result = job.run()
    assert result.returncode == 0, result.stderr
    argv = json.loads(result.stdout.strip().splitlines()[-1])
    assert argv == [
        "--model_dir",
        str(job.layout.model_dir),
        "--other",
        "/opt/mlx",
        "--top",
        str(job.root),
    ]


def test_crash_writes_the_exception_first_and_the_traceback_tail(make_job: MakeJob) -> None:
    job = make_job({"lr": 5})
    job.write(
        "train.py",
        """
        import sys
        for i in range(400):
            print(f"warning {i}: " + "noise " * 10, file=sys.stderr)

        def check(lr):
            if lr > 1:
                raise ValueError(f"bad lr {lr}")

        def main():
            check(float(sys.argv[sys.argv.index("--lr") + 1]))

        main()
        """,
    )
    result = job.run()
    assert result.returncode == 1
    assert "ValueError: bad lr 5.0" in result.stderr
    failure = job.failure()
    assert failure.startswith("AlgorithmError: ValueError: bad lr 5.0\n")
    head = failure[:FAILURE_REASON_LIMIT]
    assert "ExitCode 1" in head
    assert "in check" in head
    assert 'raise ValueError(f"bad lr {lr}")' in head
    assert "warning" not in failure
    status = job.status()
    assert status["state"] == "Failed"
    assert status["exit_code"] == 1
    assert status["failure_reason"] == failure[:FAILURE_REASON_LIMIT]


def test_the_scripts_own_failure_file_is_kept(make_job: MakeJob) -> None:
    job = make_job()
    job.write(
        "train.py",
        """
        import os, sys
        with open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w") as f:
            f.write("DataError: the train channel is empty")
        sys.exit(4)
        """,
    )
    result = job.run()
    assert result.returncode == 4
    assert job.failure() == "DataError: the train channel is empty"
    assert job.status()["failure_reason"] == "DataError: the train channel is empty"


def test_exit_code_of_a_shell_program_is_propagated(make_job: MakeJob) -> None:
    job = make_job({"size": 2}, program="run.sh")
    job.write("run.sh", 'echo "args: $*"\necho "error: disk full" >&2\nexit 3\n')
    result = job.run()
    assert result.returncode == 3
    assert "args: --size 2" in result.stdout
    assert job.failure().startswith("AlgorithmError: error: disk full\n\nExitCode 3\n")


def test_death_by_signal_exits_like_a_shell(make_job: MakeJob) -> None:
    job = make_job()
    job.write("train.py", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    result = job.run()
    assert result.returncode == 137
    status = job.status()
    assert (status["state"], status["exit_code"], status["signal"]) == ("Failed", 137, 9)
    assert job.failure().startswith("AlgorithmError: the training process was killed by SIGKILL")


def test_module_entry_point(make_job: MakeJob) -> None:
    job = make_job({"size": 1}, program=None)
    (job.layout.code_dir / "pkg").mkdir()
    job.write("pkg/__init__.py", "")
    job.write("pkg/train.py", "import sys\nprint('module', sys.argv[1:])\n")
    result = job.run("--module", "pkg.train")
    assert result.returncode == 0, result.stderr
    assert "module ['--size', '1']" in result.stdout


def test_command_entry_point_gets_hyperparameters_appended(make_job: MakeJob) -> None:
    job = make_job({"size": 1}, program=None)
    result = job.run("--command", sys.executable, "-c", "import sys; print(sys.argv[1:])")
    assert result.returncode == 0, result.stderr
    assert "['--size', '1']" in result.stdout


def test_stdout_and_stderr_stay_separate(make_job: MakeJob) -> None:
    job = make_job()
    job.write("train.py", "import sys\nprint('to-out')\nprint('to-err', file=sys.stderr)\n")
    result = job.run()
    assert "to-out" in result.stdout
    assert "to-out" not in result.stderr
    assert "to-err" in result.stderr
    assert "to-err" not in result.stdout


def test_missing_program_is_a_one_line_usage_error(make_job: MakeJob) -> None:
    job = make_job(program="nope.py")
    result = job.run()
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "nope.py not found" in lines[0]
    assert "hint:" in lines[0]
    assert job.status()["state"] == "Failed"
    assert "nope.py" in job.failure()
    assert not job.layout.success_file.exists()


def test_bad_arguments_exit_2_before_anything_runs(make_job: MakeJob) -> None:
    job = make_job()
    marker = job.layout.model_dir / "ran"
    job.write("train.py", f"open({str(marker)!r}, 'w').close()\n")
    result = job.run("--max-runtime", "soon")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--max-runtime" in result.stderr
    assert not marker.exists()


def test_missing_config_files_are_a_usage_error(make_job: MakeJob) -> None:
    job = make_job()
    job.write("train.py", "")
    job.layout.hyperparameters_file.unlink()
    result = job.run()
    assert result.returncode == 2
    assert "hyperparameters.json" in result.stderr
