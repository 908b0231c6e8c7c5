"""The host's apt sources, read so that offline base images use the mirror the host uses.

Only the host is trusted to reach a package mirror here; a base image is bootstrapped from the
same mirrors (one-line ``sources.list`` and deb822 ``.sources`` files are both understood).
Parsing and retargeting are pure; ``load_host_apt_sources`` reads the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sagelift.errors import ImageError

__all__ = [
    "AptSource",
    "load_host_apt_sources",
    "mirror_lines",
    "parse_deb822_sources",
    "parse_one_line_sources",
]

#: Suite suffixes a base image takes from the host (backports and proposed are left out).
SUITE_SUFFIXES = ("", "-updates", "-security")


@dataclass(frozen=True, slots=True, kw_only=True)
class AptSource:
    """One binary (``deb``) source: a mirror URI with its suites and components."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None = None

    def line(self, suite: str) -> str:
        """The one-line ``deb [signed-by=...] URI SUITE COMPONENTS`` form for ``suite``."""
        options = f"[signed-by={self.signed_by}] " if self.signed_by else ""
        return f"deb {options}{self.uri} {suite} {' '.join(self.components)}"


def parse_one_line_sources(text: str) -> list[AptSource]:
    """Parse ``sources.list`` text; ``deb-src`` lines and comments are skipped."""
    sources: list[AptSource] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        kind, _, rest = line.partition(" ")
        if kind != "deb":
            continue
        options: dict[str, str] = {}
        rest = rest.strip()
        if rest.startswith("["):
            closing = rest.find("]")
            if closing < 0:
                continue
            for item in rest[1:closing].split():
                key, _, value = item.partition("=")
                options[key] = value
            rest = rest[closing + 1 :]
        fields = rest.split()
        if len(fields) < 2:
            continue
        sources.append(
            AptSource(
                uri=fields[0],
                suites=(fields[1],),
                components=tuple(fields[2:]),
                signed_by=options.get("signed-by"),
            )
        )
    return sources


def parse_deb822_sources(text: str) -> list[AptSource]:
    """Parse deb822 ``.sources`` text (paragraphs of ``Types/URIs/Suites/Components``).

    ``Enabled: no`` paragraphs and non-``deb`` types are skipped; an inline key block in
    ``Signed-By`` is dropped (apt then uses its trusted keyrings).
    """
    sources: list[AptSource] = []
    for paragraph in _paragraphs(text):
        if paragraph.get("enabled", "yes").strip().lower() == "no":
            continue
        if "deb" not in paragraph.get("types", "").split():
            continue
        signed_by = paragraph.get("signed-by", "").strip()
        if "\n" in signed_by or " " in signed_by:
            signed_by = ""
        suites = tuple(paragraph.get("suites", "").split())
        components = tuple(paragraph.get("components", "").split())
        for uri in paragraph.get("uris", "").split():
            sources.append(
                AptSource(
                    uri=uri, suites=suites, components=components, signed_by=signed_by or None
                )
            )
    return sources


def mirror_lines(sources: list[AptSource], *, host_codename: str, suite: str) -> list[str]:
    """One-line sources for ``suite`` built from the host's sources for ``host_codename``.

    Entries for ``<codename>``, ``<codename>-updates`` and ``<codename>-security`` are kept and
    retargeted to ``suite`` (so a trixie host can bootstrap bookworm from the same mirror);
    third-party repositories are left out. Raises ImageError when nothing is left.
    """
    lines: list[str] = []
    for source in sources:
        for host_suite in source.suites:
            for suffix in SUITE_SUFFIXES:
                if host_suite == host_codename + suffix:
                    line = source.line(suite + suffix)
                    if line not in lines:
                        lines.append(line)
    if not lines:
        raise ImageError(
            f"no apt source for {host_codename!r} found on this machine",
            hint="pass the mirrors explicitly (BaseImageSpec.mirrors), e.g. "
            f"'deb http://deb.debian.org/debian {suite} main'",
        )
    return lines


def load_host_apt_sources(root: Path = Path("/")) -> tuple[str, list[AptSource]]:
    """``(codename, sources)`` from ``root``'s ``/etc/os-release`` and apt source files.

    Reads ``etc/apt/sources.list`` and ``etc/apt/sources.list.d/*.list`` / ``*.sources``
    (files with other suffixes, e.g. ``.disabled``, are ignored as apt ignores them).
    Raises ImageError when the release codename cannot be found.
    """
    codename = _codename(root / "etc" / "os-release")
    sources: list[AptSource] = []
    apt_dir = root / "etc" / "apt"
    main_list = apt_dir / "sources.list"
    if main_list.is_file():
        sources += parse_one_line_sources(main_list.read_text(encoding="utf-8"))
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list":
                sources += parse_one_line_sources(path.read_text(encoding="utf-8"))
            elif path.suffix == ".sources":
                sources += parse_deb822_sources(path.read_text(encoding="utf-8"))
    return codename, sources


def _codename(os_release: Path) -> str:
    try:
        text = os_release.read_text(encoding="utf-8")
    except OSError as exc:
        raise ImageError(
            f"cannot read {os_release}: {exc}",
            hint="build base images on a Debian or Ubuntu host, or pass mirrors explicitly",
        ) from exc
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "VERSION_CODENAME" and value.strip().strip('"'):
            return value.strip().strip('"')
    raise ImageError(
        f"{os_release} names no VERSION_CODENAME",
        hint="pass the mirrors explicitly (BaseImageSpec.mirrors)",
    )


def _paragraphs(text: str) -> list[dict[str, str]]:
    paragraphs: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for raw in [*text.splitlines(), ""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if current:
                paragraphs.append(current)
            current, key = {}, ""
            continue
        if raw[0] in " \t" and key:
            current[key] += "\n" + raw.strip()
            continue
        name, sep, value = raw.partition(":")
        if sep:
            key = name.strip().lower()
            current[key] = value.strip()
    return paragraphs
