"""Which files of a source dir are the job's code: the one selection that the code tarball and
a local job's ``/opt/ml/code`` copy both use.

A path is decided in this order:

1. Always left out, whatever any ignore file says: version control (``.git``), sagelift's own
   ``.sagelift/``, virtualenvs (``.venv/``, ``venv/``, any dir holding ``pyvenv.cfg``) and
   caches (``__pycache__``, ``*.pyc``, tool caches, notebook checkpoints).
2. The user's rules, in git's ignore syntax (matched by ``pathspec``): every ``.gitignore``
   (each applies below its own dir), then ``.sagemakerignore`` at the root, then the ``exclude``
   setting; the last pattern that matches decides. A path they ignore is left out.
3. Left out by default unless ``.sagemakerignore`` or ``exclude`` re-includes it by a ``!``
   negation: secrets (``SECRET_PATTERNS``: dotenv files, cloud and SSH credentials, private
   keys, ``.netrc``...) and models that ``sagelift fetch`` wrote (a dir holding
   ``FETCH_MARKER``). A ``!`` in a ``.gitignore`` does not count: it is about git, not about
   shipping.
4. Everything else ships. A shipped file whose name looks like a secret (``RISKY_PATTERNS``)
   is named in a warning unless a ``!`` in ``.sagemakerignore``/``exclude`` chose it.

Files inside a left-out dir cannot be re-included (as in git). Symlinks are followed only when
they point to a file inside the source dir.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pathspec

if TYPE_CHECKING:
    from sagelift.sourcedir import PackageListing
    from sagelift.spec import JobSpec

__all__ = [
    "ALWAYS_EXCLUDED",
    "FETCH_MARKER",
    "RISKY_PATTERNS",
    "SECRET_PATTERNS",
    "CodeSelection",
    "LeftOut",
    "data_dirs",
    "describe_package",
    "iter_source_files",
    "report_selection",
    "select_code",
    "selection_notes",
]

log = logging.getLogger(__name__)

GITIGNORE = ".gitignore"
SAGEMAKERIGNORE = ".sagemakerignore"
#: Written by ``sagelift fetch`` into a destination dir it created; such a dir is never code.
FETCH_MARKER = ".sagelift-fetched"

ALWAYS_EXCLUDED = (
    ".git",
    ".hg/",
    ".svn/",
    ".sagelift/",
    ".venv/",
    "venv/",
    "__pycache__/",
    "*.pyc",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".ipynb_checkpoints/",
    ".DS_Store",
)
SECRET_PATTERNS = (
    ".env",
    ".env.*",
    ".envrc",
    ".aws/",
    ".ssh/",
    ".gnupg/",
    ".azure/",
    ".kube/",
    "**/.config/gcloud/",
    "application_default_credentials.json",
    ".docker/config.json",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*.pem",
    "*.key",
    ".netrc",
    "_netrc",
    ".pypirc",
    ".npmrc",
    ".git-credentials",
    ".pgpass",
    ".htpasswd",
)
RISKY_PATTERNS = (
    "*secret*",
    "*credential*",
    "*token",
    "*token.*",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    "*.gpg",
    "*.ovpn",
    "service-account*.json",
    "*serviceaccount*.json",
)

Reason = Literal["always", "ignored", "secret", "fetched", "channel", "link"]
_ALWAYS = pathspec.GitIgnoreSpec.from_lines(ALWAYS_EXCLUDED)
_SECRETS = pathspec.GitIgnoreSpec.from_lines(SECRET_PATTERNS)
_RISKY = pathspec.GitIgnoreSpec.from_lines(RISKY_PATTERNS)
_NOTE_NAMES = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class LeftOut:
    """A path kept out of the code. ``path`` is POSIX and relative, a dir's ends with ``/``;
    ``rule`` says what decided, e.g. ``'.gitignore: *.log'`` or ``'default secret rule: .env'``.
    """

    path: str
    reason: Reason
    rule: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeSelection:
    """``files``: (relative POSIX path, file to read), sorted by path; ``left_out``: sorted by
    path (every file of a left-out secret dir is named, other dirs once); ``risky``: shipped
    files whose names look like secrets."""

    files: tuple[tuple[str, Path], ...]
    left_out: tuple[LeftOut, ...]
    risky: tuple[str, ...]

    def left_out_for(self, reason: Reason) -> tuple[str, ...]:
        return tuple(item.path for item in self.left_out if item.reason == reason)


@dataclass(frozen=True, slots=True)
class _Rules:
    label: str
    base: str
    spec: pathspec.GitIgnoreSpec
    deliberate: bool  # whether a negation here ships what the defaults leave out


@dataclass(frozen=True, slots=True)
class _Verdict:
    ignored: bool
    rule: str
    deliberate: bool


def _rules_from(path: Path, label: str, base: str, *, deliberate: bool) -> list[_Rules]:
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [_Rules(label, base, pathspec.GitIgnoreSpec.from_lines(lines), deliberate)]


def _user_verdict(key: str, chain: Sequence[_Rules]) -> _Verdict | None:
    """The last matching pattern of the user's rules for ``key`` (a dir ends with ``/``)."""
    for rules in reversed(chain):
        if rules.base:
            if not key.startswith(rules.base + "/"):
                continue
            sub = key[len(rules.base) + 1 :]
        else:
            sub = key
        result = rules.spec.check_file(sub)
        if result.include is not None and result.index is not None:
            pattern = rules.spec.patterns[result.index]
            text = getattr(pattern, "pattern", None) or str(pattern)
            return _Verdict(result.include, f"{rules.label}: {text}", rules.deliberate)
    return None


def _default_rule(spec: pathspec.GitIgnoreSpec, key: str) -> str | None:
    result = spec.check_file(key)
    if not result.include or result.index is None:
        return None
    pattern = spec.patterns[result.index]
    return str(getattr(pattern, "pattern", None) or pattern)


def select_code(
    source_dir: Path, *, exclude: Sequence[str] = (), skip: Sequence[Path] = ()
) -> CodeSelection:
    """Decide every path under ``source_dir`` (see the module docstring) and return the result.

    ``skip`` names paths (e.g. a channel's data dir inside the source dir) left out with
    everything under them. Reads the ignore files; writes nothing.
    """
    root = source_dir.resolve()
    walk = _Walk(root, {p.resolve() for p in skip})
    tail = _rules_from(root / SAGEMAKERIGNORE, SAGEMAKERIGNORE, "", deliberate=True)
    if exclude:
        tail.append(_Rules("exclude", "", pathspec.GitIgnoreSpec.from_lines(exclude), True))
    walk.visit(root, "", [], tail)
    walk.files.sort(key=lambda item: item[0].split("/"))
    return CodeSelection(
        files=tuple(walk.files),
        left_out=tuple(sorted(walk.left_out, key=lambda item: item.path.split("/"))),
        risky=tuple(sorted(walk.risky, key=lambda rel: rel.split("/"))),
    )


def iter_source_files(
    source_dir: Path, *, exclude: Sequence[str] = (), skip: Sequence[Path] = ()
) -> Iterator[tuple[str, Path]]:
    """``(relative POSIX path, file to read)`` of every file that ships, sorted by path."""
    yield from select_code(source_dir, exclude=exclude, skip=skip).files


class _Walk:
    def __init__(self, root: Path, skipped: set[Path]) -> None:
        self.root = root
        self.skipped = skipped
        self.files: list[tuple[str, Path]] = []
        self.left_out: list[LeftOut] = []
        self.risky: list[str] = []

    def visit(self, directory: Path, rel_dir: str, git: list[_Rules], tail: list[_Rules]) -> None:
        label = f"{rel_dir}/{GITIGNORE}" if rel_dir else GITIGNORE
        git = git + _rules_from(directory / GITIGNORE, label, rel_dir, deliberate=False)
        chain = git + tail
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            path = Path(entry.path)
            if entry.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(self.root):
                    log.warning("leaving out %s: it links outside the source dir", rel)
                    self._out(rel, "link", "links outside the source dir")
                    continue
                if not target.is_file():
                    self._out(rel, "link", "links to a directory or nothing")
                    continue
                path = target
            is_dir = not entry.is_symlink() and entry.is_dir()
            if self._keep(rel, path, is_dir, chain):
                if is_dir:
                    self.visit(path, rel, git, tail)
                elif path.is_file():
                    self.files.append((rel, path))

    def _keep(self, rel: str, path: Path, is_dir: bool, chain: Sequence[_Rules]) -> bool:
        key = rel + "/" if is_dir else rel
        if (rule := _default_rule(_ALWAYS, key)) is not None or (
            is_dir and (path / "pyvenv.cfg").is_file()
        ):
            self._out(key, "always", f"always left out: {rule or 'a virtualenv'}")
            return False
        if any(path == s or path.is_relative_to(s) for s in self.skipped):
            self._out(key, "channel", "a channel's data")
            return False
        verdict = _user_verdict(key, chain)
        if verdict is not None and verdict.ignored:
            self._out(key, "ignored", verdict.rule)
            return False
        chosen = verdict is not None and verdict.deliberate
        if not chosen and (rule := _default_rule(_SECRETS, key)) is not None:
            self._secret(rel, path, is_dir, f"default secret rule: {rule}")
            return False
        if not chosen and is_dir and (path / FETCH_MARKER).is_file():
            self._out(key, "fetched", f"a model sagelift fetch wrote ({FETCH_MARKER})")
            return False
        if not chosen and not is_dir and _default_rule(_RISKY, key) is not None:
            self.risky.append(rel)
        return True

    def _out(self, path: str, reason: Reason, rule: str) -> None:
        self.left_out.append(LeftOut(path=path, reason=reason, rule=rule))

    def _secret(self, rel: str, path: Path, is_dir: bool, rule: str) -> None:
        if not is_dir:
            self._out(rel, "secret", rule)
            return
        found = False
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for name in sorted(filenames):
                inner = Path(dirpath, name).relative_to(path).as_posix()
                self._out(f"{rel}/{inner}", "secret", rule)
                found = True
        if not found:
            self._out(rel + "/", "secret", rule)


def selection_notes(selection: CodeSelection) -> list[str]:
    """One line per thing a user should hear about: secrets and fetched models left out,
    shipped files that look like secrets. Empty when there is nothing to say."""
    notes = []
    secrets = selection.left_out_for("secret")
    if secrets:
        notes.append(
            f"left out of the code: {_names(secrets)} (secrets; see sagelift package --list)"
        )
    fetched = selection.left_out_for("fetched")
    if fetched:
        notes.append(
            f"left out of the code: {_names(fetched)} (models sagelift fetch wrote; "
            "pass them as a channel)"
        )
    if selection.risky:
        first = selection.risky[0].rsplit("/", 1)[-1]
        notes.append(
            f"shipping files that look like secrets: {_names(selection.risky)} (list them in "
            f".sagemakerignore to leave them out, or '!{first}' there to ship them on purpose)"
        )
    return notes


def report_selection(selection: CodeSelection) -> None:
    """Log ``selection_notes`` as warnings (the CLI shows them)."""
    for note in selection_notes(selection):
        log.warning("%s", note)


def _names(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:_NOTE_NAMES])
    more = len(paths) - _NOTE_NAMES
    return shown + (f" and {more} more" if more > 0 else "")


def data_dirs(spec: JobSpec) -> list[Path]:
    """Where ``spec``'s data lives on this machine: local channels, the checkpoint location and
    the output path. What is there is never part of the code, wherever it sits."""
    from sagelift.spec import is_remote_uri

    paths = [Path(c.uri) for c in spec.channels if not is_remote_uri(c.uri)]
    for location in (spec.checkpoint_path, spec.output_path):
        if location is not None and not is_remote_uri(location):
            paths.append(Path(location))
    return paths


def describe_package(spec: JobSpec) -> PackageListing:
    """What ``spec``'s code tarball holds and leaves out (``sagelift package --list``)."""
    from sagelift.sourcedir import list_package

    return list_package(spec.source_dir, exclude=spec.exclude, skip=data_dirs(spec))
