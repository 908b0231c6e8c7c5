from __future__ import annotations

from pathlib import Path

import pytest

from sagelift.errors import ImageError
from sagelift.images.apt import (
    load_host_apt_sources,
    mirror_lines,
    parse_deb822_sources,
    parse_one_line_sources,
)
from sagelift.images.base import BaseImageSpec, mmdebstrap_argv

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main contrib

Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 abc
 -----END PGP PUBLIC KEY BLOCK-----
"""


def test_deb822_paragraphs() -> None:
    sources = parse_deb822_sources(DEB822)
    assert [s.uri for s in sources] == [
        "http://deb.debian.org/debian",
        "http://deb.debian.org/debian-security",
        "https://deb.nodesource.com/node_20.x",
    ]
    assert sources[0].suites == ("bookworm", "bookworm-updates")
    assert sources[0].signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"
    assert sources[1].components == ("main", "contrib")
    assert sources[2].signed_by is None


def test_one_line_sources() -> None:
    text = (
        "# comment\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian trixie main contrib\n"
        "deb-src http://mirror.example/debian trixie main\n"
        "deb http://mirror.example/debian-security trixie-security main # trailing\n"
    )
    sources = parse_one_line_sources(text)
    assert len(sources) == 2
    assert sources[0].signed_by == "/k.gpg"
    assert sources[0].line("bookworm") == (
        "deb [signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib"
    )


def test_mirrors_are_retargeted_and_third_party_repos_dropped() -> None:
    sources = parse_deb822_sources(DEB822)
    lines = mirror_lines(sources, host_codename="bookworm", suite="bookworm")
    assert lines == [
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://deb.debian.org/debian bookworm main",
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main contrib",
    ]
    trixie = mirror_lines(sources, host_codename="bookworm", suite="trixie")
    assert all(" trixie" in line and "bookworm" not in line.split("]")[-1] for line in trixie)


def test_no_matching_source_names_the_fix() -> None:
    with pytest.raises(ImageError) as caught:
        mirror_lines(parse_deb822_sources(DEB822), host_codename="jammy", suite="bookworm")
    assert "mirrors" in (caught.value.hint or "")


def test_host_files_are_read_from_a_root(tmp_path: Path) -> None:
    (tmp_path / "etc/apt/sources.list.d").mkdir(parents=True)
    (tmp_path / "etc/os-release").write_text('ID=debian\nVERSION_CODENAME="bookworm"\n')
    (tmp_path / "etc/apt/sources.list.d/debian.sources").write_text(DEB822)
    (tmp_path / "etc/apt/sources.list.d/old.list.disabled").write_text(
        "deb http://ignored.example/debian bookworm main\n"
    )
    (tmp_path / "etc/apt/sources.list").write_text(
        "deb http://extra.example/debian bookworm main\n"
    )
    codename, sources = load_host_apt_sources(tmp_path)
    assert codename == "bookworm"
    uris = [s.uri for s in sources]
    assert "http://extra.example/debian" in uris
    assert "http://ignored.example/debian" not in uris


def test_mmdebstrap_argv_installs_wheels_offline_and_removes_them(tmp_path: Path) -> None:
    wheel = tmp_path / "six-1.17.0-py2.py3-none-any.whl"
    spec = BaseImageSpec(include=("git",), wheels=(wheel,))
    argv = mmdebstrap_argv(
        spec,
        mirrors=["deb http://m/debian bookworm main"],
        architecture="amd64",
        output=tmp_path / "out.tar",
    )
    assert argv[0] == "mmdebstrap"
    assert "--variant=essential" in argv
    assert "--include=ca-certificates,git,libstdc++6,python3,python3-pip" in argv
    assert argv[-3:] == ["bookworm", str(tmp_path / "out.tar"), "deb http://m/debian bookworm main"]
    hooks = [a for a in argv if a.startswith("--customize-hook=")]
    assert any("--no-index --find-links /tmp/sagelift-wheels six==1.17.0" in h for h in hooks)
    assert hooks[-1].endswith('rm -rf "$1"/tmp/sagelift-wheels')
