"""Which projects use a shared resource, as pure functions over what AWS reports.

The bucket ``sagelift-<account>-<region>`` is shared by every project of an account and region;
each project keeps its files under its own key prefix (``sagelift/<project>`` by default). A
project using the bucket records that in an *ownership object* under a reserved key,
``.sagelift/projects/<project>.json`` holding ``{"project": ..., "prefix": ...}``, rather than in
bucket tags, because:

- each project writes and deletes only its own object, and a PutObject is atomic, whereas bucket
  tags can only be replaced as a whole set (PutBucketTagging), so two setups at once would lose
  one project's entry;
- a bucket holds at most 50 tags, shared with the owner's own cost and policy tags, while
  objects are unbounded; and tooling that manages a bucket's tags (Terraform, tag policies)
  silently drops tags it does not know, which would make a project invisible to teardown.

The repository and the role are per project by default (``sagelift-<project>`` and
``sagelift-<project>-sagemaker``); they are shared only when a project's settings name another
project's. For them ownership is a tag per project, ``sagelift:project:<project>`` = ``true``:
TagResource and TagRole add tags without replacing the others (no lost update), and they hold
no objects to put a record in. A resource without any such tag (made before these records
existed, or by Terraform) belongs to the project in its ``sagelift:project`` tag.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sagelift.provision.policies import PROJECT_TAG, ResourceNames

__all__ = [
    "OWNERSHIP_PREFIX",
    "OWNER_TAG_PREFIX",
    "Inventory",
    "owner_tag",
    "owners_from_tags",
    "ownership_key",
    "ownership_record",
    "parse_ownership",
    "take_inventory",
]

OWNERSHIP_PREFIX = ".sagelift/projects/"
OWNER_TAG_PREFIX = f"{PROJECT_TAG}:"
_SUFFIX = ".json"
_EXAMPLES = 3


def ownership_key(project: str) -> str:
    """The reserved object key recording that ``project`` uses the bucket."""
    return f"{OWNERSHIP_PREFIX}{project}{_SUFFIX}"


def ownership_record(names: ResourceNames) -> bytes:
    """The body of this project's ownership object."""
    record = {"project": names.project, "prefix": names.prefix, "version": 1}
    return (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")


def project_of_key(key: str) -> str | None:
    """The project an ownership key names, or None for a key outside the reserved prefix."""
    if not key.startswith(OWNERSHIP_PREFIX):
        return None
    name = key[len(OWNERSHIP_PREFIX) :]
    return name[: -len(_SUFFIX)] if name.endswith(_SUFFIX) else name


def parse_ownership(key: str, body: bytes | None) -> tuple[str, str] | None:
    """``(project, prefix)`` of an ownership object; the prefix is ``""`` when the body cannot
    be read (the project still counts as an owner: an unreadable record keeps the bucket)."""
    project = project_of_key(key)
    if not project:
        return None
    try:
        record = json.loads((body or b"").decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return project, ""
    prefix = record.get("prefix") if isinstance(record, Mapping) else None
    return project, prefix.strip("/") if isinstance(prefix, str) else ""


def owner_tag(project: str) -> str:
    """The tag key marking a repository or role as used by ``project``."""
    return f"{OWNER_TAG_PREFIX}{project}"


def owners_from_tags(tags: Mapping[str, str]) -> frozenset[str]:
    """The projects using a tagged resource: its owner tags, else its creator tag."""
    owners = frozenset(k[len(OWNER_TAG_PREFIX) :] for k in tags if k.startswith(OWNER_TAG_PREFIX))
    if owners:
        return owners
    creator = tags.get(PROJECT_TAG)
    return frozenset({creator}) if creator else frozenset()


def _under(key: str, prefix: str) -> bool:
    return not prefix or key.startswith(prefix + "/")


@dataclass(frozen=True, slots=True, kw_only=True)
class Inventory:
    """The bucket's objects counted by prefix: each key goes to the longest prefix holding it;
    ``foreign`` counts keys under none (outside the reserved ownership keys), ``examples`` names
    a few of them."""

    counts: Mapping[str, int] = field(default_factory=dict)
    foreign: int = 0
    examples: tuple[str, ...] = ()

    def count(self, prefix: str) -> int:
        return self.counts.get(prefix, 0)


def take_inventory(keys: Iterable[str], prefixes: Iterable[str]) -> Inventory:
    """Count ``keys`` by the longest of ``prefixes`` each lies under (``""`` holds every key)."""
    ordered = sorted(set(prefixes), key=len, reverse=True)
    counts = dict.fromkeys(ordered, 0)
    foreign = 0
    examples: list[str] = []
    for key in keys:
        if key.startswith(OWNERSHIP_PREFIX):
            continue
        holder = next((p for p in ordered if _under(key, p)), None)
        if holder is None:
            foreign += 1
            if len(examples) < _EXAMPLES:
                examples.append(key)
        else:
            counts[holder] += 1
    return Inventory(counts=counts, foreign=foreign, examples=tuple(examples))
