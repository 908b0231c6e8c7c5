"""Which files a source package holds: gitignore rules, .sagemakerignore, exclude, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagelift.codefiles import iter_source_files


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def selected(root: Path, **kwargs: object) -> set[str]:
    return {rel for rel, _ in iter_source_files(root, **kwargs)}  # type: ignore[arg-type]


def test_always_excluded(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "train.py": "",
            ".git/config": "",
            "__pycache__/train.cpython-311.pyc": "",
            "pkg/__pycache__/m.pyc": "",
            "pkg/old.pyc": "",
            ".sagelift/jobs/x.json": "",
            ".venv/bin/python": "",
            ".DS_Store": "",
            "nb/.ipynb_checkpoints/a.ipynb": "",
            "nb/a.ipynb": "",
            ".gitignore": "!*.pyc\n!.venv/\n",
        },
    )
    assert selected(root) == {"train.py", "nb/a.ipynb", ".gitignore"}


def test_gitignore_semantics(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            ".gitignore": "\n".join(
                [
                    "# comment",
                    "*.log",
                    "!keep.log",
                    "build/",
                    "/top.txt",
                    "docs/**/*.tmp",
                    "**/cache",
                    "out",
                    r"\#hash.txt",
                    "trailing.txt   ",
                    "data/*",
                    "!data/small.csv",
                ]
            )
            + "\n",
            "a.log": "",
            "sub/b.log": "",
            "keep.log": "",
            "build/x.py": "",
            "src/build/y.py": "",
            "build.py": "",
            "top.txt": "",
            "sub/top.txt": "",
            "docs/a.tmp": "",
            "docs/x/y/b.tmp": "",
            "docs/x/keep.md": "",
            "cache/c": "",
            "deep/er/cache": "",
            "out": "",
            "sub/out/z.py": "",
            "#hash.txt": "",
            "trailing.txt": "",
            "data/big.csv": "",
            "data/small.csv": "",
            "train.py": "",
        },
    )
    assert selected(root) == {
        ".gitignore",
        "keep.log",
        "build.py",
        "sub/top.txt",
        "docs/x/keep.md",
        "data/small.csv",
        "train.py",
    }


def test_nested_gitignore_applies_below_its_dir(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            ".gitignore": "*.csv\n",
            "a.csv": "",
            "a.txt": "",
            "pkg/.gitignore": "/local.txt\n!wanted.csv\n",
            "pkg/local.txt": "",
            "pkg/wanted.csv": "",
            "pkg/deeper/local.txt": "",
            "other/local.txt": "",
        },
    )
    assert selected(root) == {
        ".gitignore",
        "a.txt",
        "pkg/.gitignore",
        "pkg/wanted.csv",
        "pkg/deeper/local.txt",
        "other/local.txt",
    }


def test_files_in_an_ignored_dir_cannot_be_reincluded(tmp_path: Path) -> None:
    root = tree(tmp_path, {".gitignore": "logs/\n!logs/keep.txt\n", "logs/keep.txt": ""})
    assert selected(root) == {".gitignore"}


def test_sagemakerignore_and_exclude_come_last(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            ".gitignore": "*.bin\n",
            ".sagemakerignore": "notebooks/\n!model.bin\n",
            "model.bin": "",
            "other.bin": "",
            "notebooks/a.ipynb": "",
            "data/x.csv": "",
            "train.py": "",
        },
    )
    assert selected(root, exclude=["data/", "!other.bin"]) == {
        ".gitignore",
        ".sagemakerignore",
        "model.bin",
        "other.bin",
        "train.py",
    }


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "expected"),
    [
        ("*.py", "a/b/c.py", False, True),
        ("a/*.py", "a/b/c.py", False, False),
        ("a/**/c.py", "a/c.py", False, True),
        ("a/**/c.py", "a/b/x/c.py", False, True),
        ("a/**", "a/b/c", False, True),
        ("**/b", "x/y/b", True, True),
        ("b/", "x/b", False, False),
        ("b/", "x/b", True, True),
        ("f?o", "fxo", False, True),
        ("f?o", "f/o", False, False),
        ("[abc].txt", "b.txt", False, True),
        ("[!abc].txt", "b.txt", False, False),
        ("/root.txt", "sub/root.txt", False, False),
    ],
)
def test_pattern_matching(
    tmp_path: Path, pattern: str, path: str, is_dir: bool, expected: bool
) -> None:
    # A dir is seen through a file inside it: an ignored dir takes its files with it.
    file = f"{path}/inside" if is_dir else path
    root = tree(tmp_path, {".sagemakerignore": pattern + "\n", file: ""})
    assert (file not in selected(root)) is expected
