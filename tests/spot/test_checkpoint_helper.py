"""sagelift.checkpoints: numbered, atomic, pruned."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sagelift.checkpoints import Checkpoints, default_checkpoint_dir


def test_save_latest_and_prune(tmp_path):
    ckpt = Checkpoints(tmp_path, keep=2)
    assert ckpt.latest() is None
    for step in (1, 2, 10):
        ckpt.save(step, f"state {step}".encode())
    assert [ckpt.step_of(p) for p in ckpt.all()] == [2, 10]
    assert ckpt.latest_step() == 10
    assert ckpt.latest().read_bytes() == b"state 10"


def test_a_failed_write_leaves_no_checkpoint_behind(tmp_path):
    ckpt = Checkpoints(tmp_path)
    ckpt.save(1, b"good")

    def half_write(path):
        path.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ckpt.save(2, half_write)
    assert ckpt.latest_step() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-00000001.ckpt"]


def test_sigkill_mid_save_never_exposes_a_partial_checkpoint(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(
        "import sys, time\n"
        "from sagelift.checkpoints import Checkpoints\n"
        "c = Checkpoints(sys.argv[1])\n"
        "c.save(1, b'x' * 10)\n"
        "def slow(p):\n"
        "    with open(p, 'wb') as f:\n"
        "        f.write(b'y' * 1000); f.flush(); print('writing', flush=True); time.sleep(30)\n"
        "c.save(2, slow)\n"
    )
    ckpts = tmp_path / "ckpts"
    proc = subprocess.Popen([sys.executable, str(script), str(ckpts)], stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"writing\n"
    proc.kill()
    proc.wait()
    ckpt = Checkpoints(ckpts)
    assert ckpt.latest_step() == 1
    assert ckpt.latest().read_bytes() == b"x" * 10


def test_default_dir_follows_the_job(monkeypatch, tmp_path):
    if os.path.isdir("/opt/ml/checkpoints"):
        pytest.skip("this machine has /opt/ml/checkpoints")
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    assert default_checkpoint_dir() == tmp_path / "checkpoints"
    monkeypatch.delenv("SM_MODEL_DIR")
    assert str(default_checkpoint_dir()) == "checkpoints"
