from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sagelift.cli import main
from sagelift.provision.plan import SetupOptions
from sagelift.provision.policies import default_names
from sagelift.provision.terraform import render_terraform


def test_terraform_is_written_without_calling_aws(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAGELIFT_AWS_REGION", "eu-west-1")
    monkeypatch.setenv("SAGELIFT_AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    out = tmp_path / "infra"
    assert main(["-C", str(project), "aws", "setup", "--terraform", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["main.tf", "outputs.tf", "variables.tf"]
    main_tf = (out / "main.tf").read_text(encoding="utf-8")
    for resource in (
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_lifecycle_configuration",
        "aws_ecr_lifecycle_policy",
        "aws_iam_role_policy",
    ):
        assert f'resource "{resource}"' in main_tf
    assert '"Service" = "sagemaker.amazonaws.com"' in main_tf
    assert "AmazonSageMakerFullAccess" not in main_tf
    assert 'countNumber" = var.keep_images' in main_tf
    assert 'default     = "eu-west-1"' in (out / "variables.tf").read_text(encoding="utf-8")
    assert not (project / "sagelift.toml").exists()


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_terraform_parses(tmp_path: Path) -> None:
    names = default_names(project="p", account="1", region="us-east-1")
    for name, text in render_terraform(names, SetupOptions()).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    # fmt parses every file (exit 2 on a syntax error); validate would need the provider.
    subprocess.run(["terraform", "fmt", "-write=false", "-list=false", str(tmp_path)], check=True)
