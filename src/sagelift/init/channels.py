"""Input channels proposed from the names the code reads, matched to the project's data folders.

The code anywhere in the project reads channels by name (``SM_CHANNEL_TRAIN``,
``channel_input_dirs["train"]``); each name gets the data folder of the same name (or a usual
alias: ``training`` ↔ ``train``, ``validation`` ↔ ``val``), or the whole ``data/`` folder when
it has no subfolders. Data folders the code does not name are proposed too, under their own
names. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = ["DATA_DIR", "DEFAULT_CHANNEL", "ChannelProposal", "propose_channels"]

DATA_DIR = "data"
#: The channel name when nothing in the code names one (the SDK's default for ``fit(inputs)``).
DEFAULT_CHANNEL = "training"
_ALIASES = (
    frozenset({"train", "training", "trn"}),
    frozenset({"validation", "valid", "val", "dev", "eval", "evaluation"}),
    frozenset({"test", "testing"}),
)

ChannelProposal = tuple[dict[str, str], dict[str, str], tuple[str, ...]]


def _folder_for(name: str, folders: Sequence[str]) -> str | None:
    if name in folders:
        return name
    for group in _ALIASES:
        if name in group:
            return next((f for f in folders if f.lower() in group), None)
    return None


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", name)


def propose_channels(
    read: Mapping[str, Sequence[str]], folders: Sequence[str], *, has_data: bool
) -> ChannelProposal:
    """(channels name → path, reasons name → why, notes) for channel names ``read`` (name →
    files reading it) and the subfolders ``folders`` of ``data/`` (``has_data``: it exists)."""
    channels: dict[str, str] = {}
    reasons: dict[str, str] = {}
    notes: list[str] = []
    used: set[str] = set()
    for name, where in read.items():
        reader = f"{', '.join(where[:2])}{' …' if len(where) > 2 else ''}"
        folder = _folder_for(name, [f for f in folders if f not in used])
        if folder is not None:
            used.add(folder)
            channels[name] = f"{DATA_DIR}/{folder}"
            reasons[name] = f"{reader} reads channel {name!r}; {DATA_DIR}/{folder} holds its data"
        elif has_data and not folders:
            channels[name] = DATA_DIR
            reasons[name] = f"{reader} reads channel {name!r}; {DATA_DIR}/ is the data folder"
        else:
            notes.append(
                f"{reader} reads channel {name!r} but no data folder matches it: add "
                f'{name} = "s3://bucket/prefix" (or a local path) under [channels]'
            )
    for folder in folders:
        if folder not in used:
            channels.setdefault(_safe(folder), f"{DATA_DIR}/{folder}")
            reasons.setdefault(
                _safe(folder), f"{DATA_DIR}/{folder} exists; no code reads it by name"
            )
    if not channels and has_data and not read:
        channels[DEFAULT_CHANNEL] = DATA_DIR
        reasons[DEFAULT_CHANNEL] = (
            f"no code names a channel; {DATA_DIR}/ is offered as the SDK's default channel "
            f"{DEFAULT_CHANNEL!r} (SM_CHANNEL_TRAINING)"
        )
    return channels, reasons, tuple(notes)
