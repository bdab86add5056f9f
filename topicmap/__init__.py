"""topicmap's Python API: ``from topicmap import TopicMap``.

The public names live here. Behind them: the pipeline (``topicmap.hierarchy``, folder ``hierarchy/``), the
dashboard (``topicmap.viz``, ``viz/``) and the prompts (``topicmap.prompts``, ``prompts/``); docs/architecture.md
says why the folders sit beside this one in a checkout. ``TopicMap`` is imported on first use, so
``import topicmap`` itself is quick.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from topicmap._checkout import install as _find_folders_of_a_checkout

_find_folders_of_a_checkout(Path(__file__).parent)

from topicmap.hierarchy import __version__  # noqa: E402 - needs the finder above in a checkout
from topicmap.hierarchy.base.errors import InputError, OutputError, TopicmapError, TreeFileError  # noqa: E402

if TYPE_CHECKING:
    from topicmap._estimator import TopicMap

__all__ = ["TopicMap", "TopicmapError", "InputError", "TreeFileError", "OutputError", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "TopicMap":
        from topicmap._estimator import TopicMap

        return TopicMap
    raise AttributeError(f"module 'topicmap' has no attribute {name!r}")
