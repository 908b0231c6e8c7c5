"""``sagelift/__init__.py`` beside a framework job's code: the checkpoint helper without the
launcher, and without hiding a sagelift installed in the image. Stdlib only, Python 3.8+.

In the framework kind the image's own toolkit runs the script, with the code directory first on
``sys.path``. sagelift ships this file there as ``sagelift/__init__.py``, next to
``sagelift/checkpoints.py``, so ``from sagelift.checkpoints import Checkpoints`` works in any
framework image. When a full sagelift is installed elsewhere on ``sys.path`` (listed in the
project's requirements, say), importing ``sagelift`` loads that one in this module's place:
nothing of the installed package is hidden.

Its text is copied as is; run as ``sagelift.runtime.checkpoint_shim`` it does nothing.
"""

import importlib.machinery
import importlib.util
import os
import sys


def load_installed(name: str, own_file: str) -> bool:
    """Load the package ``name`` found on ``sys.path`` outside the directory that holds this
    stand-in (``own_file``'s package root) into ``sys.modules``; False when there is none, or
    when it cannot be imported (then the stand-in stays, with its helper)."""
    root = os.path.realpath(os.path.dirname(os.path.dirname(own_file)))
    elsewhere = [p for p in sys.path if os.path.realpath(p or os.getcwd()) != root]
    spec = importlib.machinery.PathFinder.find_spec(name, elsewhere)
    if spec is None or spec.loader is None or spec.origin is None:
        return False
    if os.path.realpath(spec.origin) == os.path.realpath(own_file):
        return False
    own = sys.modules.get(name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        if own is not None:
            sys.modules[name] = own
        else:
            del sys.modules[name]
        return False
    return True


if __name__ == "sagelift":
    load_installed(__name__, __file__)
