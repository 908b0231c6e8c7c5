"""Channels as copy-on-write overlays in the launcher's mount namespace."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from sagelift.runtime.mounts import prepare_view
    root, source = Path(sys.argv[1]), Path(sys.argv[2])
    prepare_view(root, "off", overlays={"train": source})
    channel = root / "input" / "data" / "train"
    (channel / "a.csv").write_text("overwritten")
    (channel / "new.csv").write_text("new")
    os.remove(channel / "b.csv")
    print(os.path.ismount(channel), sorted(os.listdir(channel)))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mount namespaces are Linux-only")
def test_writes_land_in_the_scratch_layer_never_in_the_source(tmp_path):
    source = tmp_path / "data"
    source.mkdir()
    (source / "a.csv").write_text("1,2\n")
    (source / "b.csv").write_text("3,4\n")
    root = tmp_path / "job" / "opt-ml"
    root.mkdir(parents=True)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(root), str(source)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    mounted = out.startswith("True")
    assert "['a.csv', 'new.csv']" in out
    assert (source / "a.csv").read_text() == "1,2\n"
    assert (source / "b.csv").read_text() == "3,4\n"
    assert not (source / "new.csv").exists()
    if mounted:
        # The writes are in the overlay's upper layer beside the layout, not in the layout.
        upper = tmp_path / "job" / "opt-ml.overlays" / "train" / "upper"
        assert (upper / "new.csv").read_text() == "new"
        assert not any((root / "input" / "data" / "train").iterdir())
    else:
        # No namespace here: the launcher copied the channel instead.
        assert (root / "input" / "data" / "train" / "new.csv").exists()
