"""Running from a source checkout: ``topicmap.hierarchy``, ``topicmap.viz`` and ``topicmap.prompts`` are the
folders ``hierarchy/``, ``viz/`` and ``prompts/`` beside ``topicmap/``.

An installed copy has them inside ``topicmap/`` (pyproject.toml's ``package-dir``), and this finder is not
used. In a checkout (``PYTHONPATH=<checkout>``, or ``pip install -e .``) it maps exactly those three names
to the folders; everything below them is found through their ``__path__`` as usual.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

FOLDERS = ("hierarchy", "viz", "prompts")


class CheckoutFinder(importlib.abc.MetaPathFinder):
    """Finds ``topicmap.<folder>`` at ``<root>/<folder>`` for the folders of :data:`FOLDERS`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        parent, _, name = fullname.rpartition(".")
        if parent != "topicmap" or name not in FOLDERS:
            return None
        folder = self.root / name
        return importlib.util.spec_from_file_location(fullname, folder / "__init__.py", submodule_search_locations=[str(folder)])


def install(package_dir: Path) -> None:
    """Add the finder when ``package_dir`` (topicmap/) lacks the folders and its parent has them."""
    root = package_dir.parent
    if (package_dir / "hierarchy").is_dir() or not all((root / f / "__init__.py").is_file() for f in FOLDERS):
        return
    if not any(isinstance(finder, CheckoutFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, CheckoutFinder(root))
