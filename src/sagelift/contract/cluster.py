"""The hosts of a multi-instance job: names, loopback addresses and data shards. Pure.

SageMaker names the instances of a job ``algo-1`` … ``algo-N`` (``resourceconfig.json``
``hosts``, sorted) and makes each name resolve on every instance. A job run as N hosts on one
machine gives host ``algo-i`` the loopback address ``127.<a>.<b>.<10+i>`` and the same names
through a private ``/etc/hosts``, so scripts connect by host name exactly as in the cloud.
``a`` (1-254) and ``b`` come from a hash of the job's name: two jobs running at once on one
machine each get their own block of addresses (never ``127.0.0.x``), so servers bound to a
host's address do not clash. A server bound to every address (torchrun's rendezvous store)
needs its own port as well: ``local_master_port``.

``ShardedByS3Key``: SageMaker documents that with N instances "each instance gets approximately
1/n of the number of S3 objects" (``S3DataSource.S3DataDistributionType``, botocore); which
object lands where is not specified. sagelift deals the objects out round-robin in sorted key
order: host ``algo-i`` gets keys ``i-1``, ``i-1+N``, … With fewer objects than instances
SageMaker starts the job anyway and some instances get no data ("you will pay for nodes that
aren't getting any training data"); sagelift refuses that before anything runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "DISTRIBUTION_TYPES",
    "FIRST_HOST_OCTET",
    "LOCAL_MASTER_PORTS",
    "MAX_LOCAL_HOSTS",
    "host_address",
    "host_names",
    "host_rank",
    "local_master_port",
    "loopback_block",
    "render_etc_hosts",
    "shard",
]

#: ``S3DataSource.S3DataDistributionType`` (botocore ``S3DataDistribution`` enum).
DISTRIBUTION_TYPES = ("FullyReplicated", "ShardedByS3Key")
#: Host ``algo-i`` listens on ``<block>.<FIRST_HOST_OCTET + i>`` (``loopback_block`` locally).
FIRST_HOST_OCTET = 10
#: Where a local job's torchrun master port is looked for: below Linux's ephemeral range
#: (``net.ipv4.ip_local_port_range``, 32768-60999), so no outgoing connection holds it.
LOCAL_MASTER_PORTS = range(20000, 30000)
#: The most hosts one machine runs for a local job: each host is a full copy of the job's
#: process tree and inputs; past this a laptop thrashes long before it trains.
MAX_LOCAL_HOSTS = 8


def host_names(count: int) -> list[str]:
    """``["algo-1", …, "algo-<count>"]``. Raises ValueError if ``count < 1``."""
    if count < 1:
        raise ValueError(f"a job has at least one host, not {count}")
    return [f"algo-{index}" for index in range(1, count + 1)]


def host_rank(host: str) -> int:
    """The 0-based position of ``host`` (``algo-3`` → 2). Raises ValueError for other names."""
    prefix, _, number = host.partition("-")
    if prefix != "algo" or not number.isdigit() or int(number) < 1:
        raise ValueError(f"{host!r} is not a SageMaker host name (algo-1, algo-2, …)")
    return int(number) - 1


def _digest(job: str) -> int:
    return int.from_bytes(hashlib.sha256(job.encode("utf-8")).digest()[:8], "big")


def loopback_block(job: str) -> str:
    """``127.<a>.<b>``: the loopback block of the local job named ``job``, ``a`` in 1-254
    (so never ``127.0.0.x``, where ``localhost`` and other services live), both from a hash
    of the name. The same name always gives the same block."""
    digest = _digest(job)
    return f"127.{1 + digest % 254}.{(digest >> 8) % 256}"


def host_address(host: str, *, job: str) -> str:
    """The loopback address of ``host`` of the local job named ``job``:
    ``<loopback_block(job)>.<FIRST_HOST_OCTET + i>`` for ``algo-i``."""
    return f"{loopback_block(job)}.{FIRST_HOST_OCTET + host_rank(host) + 1}"


def local_master_port(job: str) -> int:
    """The first port, in ``LOCAL_MASTER_PORTS``, to try for the torchrun master of the local
    job named ``job`` (SageMaker's fixed 7777 would clash between jobs on one machine); the
    caller moves on to the next ones while a port is taken."""
    return LOCAL_MASTER_PORTS[(_digest(job) >> 16) % len(LOCAL_MASTER_PORTS)]


def render_etc_hosts(count: int, *, job: str, current: str | None = None) -> str:
    """An ``/etc/hosts`` for a host of a ``count``-host local job named ``job``:
    ``localhost`` and every ``algo-i`` at its loopback address (the current host's name too,
    for ``gethostname()`` lookups)."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{host_address(name, job=job)}\t{name}" for name in host_names(count)]
    if current is not None and current not in host_names(count):
        raise ValueError(f"{current!r} is not one of the job's {count} hosts")
    return "\n".join(lines) + "\n"


def shard(keys: Sequence[str], host: str, count: int) -> list[str]:
    """The keys host ``host`` of ``count`` receives under ``ShardedByS3Key``: round-robin in
    sorted order. Every key goes to exactly one host. Raises ValueError for a host outside
    the job."""
    rank = host_rank(host)
    if rank >= count:
        raise ValueError(f"{host!r} is not one of the job's {count} hosts")
    return sorted(keys)[rank::count]
