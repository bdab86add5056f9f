"""topicmap's Python API: ``from topicmap import TopicMap``.

The public names live here; the pipeline (``hierarchy``), the dashboard (``viz``) and the prompts
(``prompts``) stay where the CLI and tree files expect them (docs/architecture.md says why).
``TopicMap`` is imported on first use, so ``import topicmap`` itself is quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hierarchy import __version__
from hierarchy.errors import InputError, OutputError, TopicmapError, TreeFileError

if TYPE_CHECKING:
    from topicmap._estimator import TopicMap

__all__ = ["TopicMap", "TopicmapError", "InputError", "TreeFileError", "OutputError", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "TopicMap":
        from topicmap._estimator import TopicMap

        return TopicMap
    raise AttributeError(f"module 'topicmap' has no attribute {name!r}")
