"""The one exception tree of sagelift.

Families are named after who must act:

* ``UsageError`` (exit 2): the user asked for something invalid; nothing was done.
* ``InfrastructureError`` (exit 3): we could not run it (AWS, containers, disk).
* ``JobFailed`` (exit 1): the job ran and the training code failed or was stopped.

Every error a user can see carries a ``hint`` naming the fix.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ConfigError",
    "CredentialsError",
    "EndpointUnreachable",
    "ImageError",
    "InfrastructureError",
    "Interrupted",
    "JobFailed",
    "JobNotFound",
    "JobVanished",
    "MissingDependency",
    "SageliftError",
    "SpecError",
    "StorageError",
    "UnsupportedFeature",
    "UsageError",
]

ISSUES_URL = "https://github.com/sagelift/sagelift/issues"


class SageliftError(Exception):
    """Root of every error sagelift raises on purpose."""

    exit_code: int = 1
    headline: str = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(SageliftError):
    """The user asked for something invalid; no side effect has happened."""

    exit_code = 2
    headline = "usage error"


class ConfigError(UsageError):
    """A settings file, environment variable or flag is invalid."""

    headline = "config error"


class SpecError(UsageError):
    """The job spec is invalid; ``field`` names the offending key (e.g. ``channels.train``)."""

    headline = "spec error"

    def __init__(self, message: str, *, hint: str | None = None, field: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field


class UnsupportedFeature(UsageError):
    """The chosen backend cannot do what the spec asks."""

    headline = "unsupported"


class MissingDependency(UsageError):
    """An optional extra is needed and not installed."""

    headline = "missing dependency"


class JobNotFound(UsageError):
    """No job of that name is known."""

    headline = "no such job"


class JobVanished(JobNotFound):
    """The job is recorded here, but its backend no longer knows it (a cloud job deleted, or
    looked for with credentials of another account or region)."""

    headline = "job not found in its backend"


class InfrastructureError(SageliftError):
    """We could not run the job: AWS, containers, network or disk."""

    exit_code = 3
    headline = "infrastructure error"


class CredentialsError(InfrastructureError):
    """No usable AWS credentials, or they were refused."""

    headline = "credentials"


class StorageError(InfrastructureError):
    """Reading or writing a storage URL failed."""

    headline = "storage error"


class ImageError(InfrastructureError):
    """Building, pushing or pulling an image failed."""

    headline = "image error"


class BackendError(InfrastructureError):
    """The backend could not start, watch or stop a job."""

    headline = "backend error"


class EndpointUnreachable(BackendError):
    """The backend's API endpoint could not be reached (network, endpoint_url, region)."""

    headline = "endpoint unreachable"


class JobFailed(SageliftError):
    """The job ran and did not complete; ``reason`` is its failure reason."""

    exit_code = 1
    headline = "job failed"

    def __init__(
        self, message: str, *, hint: str | None = None, job_name: str, reason: str | None
    ) -> None:
        super().__init__(message, hint=hint)
        self.job_name = job_name
        self.reason = reason


class Interrupted(KeyboardInterrupt):
    """A signal asked sagelift's own process to stop (SIGINT, SIGTERM, SIGHUP): raised where
    Ctrl-C would raise KeyboardInterrupt, so the same clean-up runs; ``signum`` says which."""

    def __init__(self, signum: int, name: str) -> None:
        super().__init__(name)
        self.signum = signum
        self.signal_name = name
