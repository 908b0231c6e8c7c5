"""The Terraform equivalent of ``sagelift aws setup``, rendered as text. Pure.

The policies are the same functions setup applies (``sagelift.provision.policies``), given
Terraform expressions instead of names, so both paths grant exactly the same permissions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sagelift.provision.plan import SetupOptions
from sagelift.provision.policies import (
    MANAGED_TAG,
    POLICY_NAME,
    PROJECT_TAG,
    ROLE_PATH,
    ResourceNames,
    code_expiry_rule_id,
    role_policy,
    trust_policy,
)

__all__ = ["Expression", "hcl", "render_terraform"]

_EXPRESSIONS = ResourceNames(
    project="${var.project}",
    account="${data.aws_caller_identity.current.account_id}",
    region="${var.region}",
    bucket="${local.bucket_name}",
    prefix="${var.prefix}",
    repository="${var.repository_name}",
    role="${var.role_name}",
    partition="${data.aws_partition.current.partition}",
)


class Expression(str):
    """A Terraform expression written as is (``var.keep_images``), not as a string."""


def hcl(value: Any, indent: int = 0) -> str:
    """A JSON-like value as an HCL expression (strings keep ``${...}`` interpolations)."""
    pad = "  " * (indent + 1)
    if isinstance(value, Expression):
        return str(value)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        body = "\n".join(
            f"{pad}{json.dumps(str(k))} = {hcl(v, indent + 1)}" for k, v in value.items()
        )
        return "{\n" + body + "\n" + "  " * indent + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(hcl(v, indent) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(str(value))


def _variable(name: str, description: str, default: Any, kind: str = "string") -> str:
    return (
        f'variable "{name}" {{\n'
        f"  description = {json.dumps(description)}\n"
        f"  type        = {kind}\n"
        f"  default     = {hcl(default)}\n"
        "}\n"
    )


def render_terraform(
    names: ResourceNames, options: SetupOptions, *, default_bucket: bool = False
) -> dict[str, str]:
    """File name → content of a Terraform module creating what setup creates for ``names``.

    With ``default_bucket`` the bucket is named ``sagelift-<account>-<region>`` by Terraform
    itself (``names.bucket`` is ignored), so rendering needs no AWS call.
    """
    variables = "\n".join(
        [
            _variable("region", "AWS region of jobs, bucket and repository", names.region),
            _variable("project", "sagelift project name (tag value)", names.project),
            _variable(
                "bucket_name",
                "S3 bucket for code, data and outputs ('' = sagelift-<account>-<region>)",
                "" if default_bucket else names.bucket,
            ),
            _variable("prefix", "key prefix of sagelift's objects in the bucket", names.prefix),
            _variable("repository_name", "ECR repository for job images", names.repository),
            _variable("role_name", "SageMaker execution role name", names.role),
            _variable(
                "code_expiry_days",
                "days before old code tarballs expire",
                options.code_expiry_days,
                "number",
            ),
            _variable(
                "keep_images", "images kept in the repository", options.keep_images, "number"
            ),
        ]
    )
    lifecycle = {
        "rules": [
            {
                "rulePriority": 1,
                "description": "keep the last ${var.keep_images} images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": Expression("var.keep_images"),
                },
                "action": {"type": "expire"},
            }
        ]
    }
    main = f"""terraform {{
  required_version = ">= 1.3"
  required_providers {{
    aws = {{
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }}
  }}
}}

provider "aws" {{
  region = var.region
}}

data "aws_caller_identity" "current" {{}}
data "aws_partition" "current" {{}}

locals {{
  bucket_name = (
    var.bucket_name != "" ? var.bucket_name
    : "sagelift-${{data.aws_caller_identity.current.account_id}}-${{var.region}}"
  )
  tags = {{
    "{MANAGED_TAG}" = "true"
    "{PROJECT_TAG}" = var.project
  }}
}}

resource "aws_s3_bucket" "jobs" {{
  bucket = local.bucket_name
  tags   = local.tags
}}

resource "aws_s3_bucket_server_side_encryption_configuration" "jobs" {{
  bucket = aws_s3_bucket.jobs.id
  rule {{
    apply_server_side_encryption_by_default {{
      sse_algorithm = "AES256"
    }}
    bucket_key_enabled = true
  }}
}}

resource "aws_s3_bucket_public_access_block" "jobs" {{
  bucket                  = aws_s3_bucket.jobs.id
  block_public_acls       = true
  ignore_public_acls      = true
  block_public_policy     = true
  restrict_public_buckets = true
}}

resource "aws_s3_bucket_lifecycle_configuration" "jobs" {{
  bucket = aws_s3_bucket.jobs.id
  rule {{
    id     = "{code_expiry_rule_id(_EXPRESSIONS)}"
    status = "Enabled"
    filter {{
      prefix = "${{var.prefix}}/code/"
    }}
    expiration {{
      days = var.code_expiry_days
    }}
    abort_incomplete_multipart_upload {{
      days_after_initiation = min(var.code_expiry_days, 7)
    }}
  }}
}}

resource "aws_ecr_repository" "images" {{
  name                 = var.repository_name
  image_tag_mutability = "MUTABLE"
  image_scanning_configuration {{
    scan_on_push = true
  }}
  encryption_configuration {{
    encryption_type = "AES256"
  }}
  tags = local.tags
}}

resource "aws_ecr_lifecycle_policy" "images" {{
  repository = aws_ecr_repository.images.name
  policy     = jsonencode({hcl(lifecycle, 1)})
}}

resource "aws_iam_role" "execution" {{
  name               = var.role_name
  path               = "{ROLE_PATH}"
  description        = "SageMaker execution role for sagelift project ${{var.project}}"
  assume_role_policy = jsonencode({hcl(trust_policy(_EXPRESSIONS), 1)})
  tags               = local.tags
}}

# Least privilege: the bucket prefix, the repository and the training job logs only.
resource "aws_iam_role_policy" "execution" {{
  name   = "{POLICY_NAME}"
  role   = aws_iam_role.execution.id
  policy = jsonencode({hcl(role_policy(_EXPRESSIONS), 1)})
}}
"""
    outputs = """output "region" {
  value = var.region
}

output "bucket" {
  value = aws_s3_bucket.jobs.bucket
}

output "role_arn" {
  value = aws_iam_role.execution.arn
}

output "ecr_repository" {
  value = aws_ecr_repository.images.name
}

output "sagelift_toml" {
  description = "paste into sagelift.toml"
  value       = <<-EOT
    [aws]
    region = "${var.region}"
    bucket = "${aws_s3_bucket.jobs.bucket}"
    prefix = "${var.prefix}"
    role = "${aws_iam_role.execution.arn}"
    ecr_repository = "${aws_ecr_repository.images.name}"
  EOT
}
"""
    return {"main.tf": main, "variables.tf": variables, "outputs.tf": outputs}
