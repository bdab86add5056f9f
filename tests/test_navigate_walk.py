"""The one descent every navigator makes (quality/navigate.walk_down) and the prompts read through llm/prompting."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from topicmap.hierarchy.llm.prompting import PromptError, load_builtin, resolve_prompts
from topicmap.hierarchy.quality.navigate import Choice, descend, descend_async, navigate_prompt, sample_targets, walk_down
from topicmap.hierarchy.extract.facets import extract_prompt
from topicmap.hierarchy.tree.topic_tree import Node
from tests.eval_fixtures import hand_tree


class Scripted:
    """Answers each choice from a table keyed by parent id, synchronously and awaited alike."""

    name = "scripted"

    def __init__(self, picks: dict[str, int | None]) -> None:
        self.picks = picks
        self.asked: list[str] = []

    def prepare(self, tree: object, targets: object) -> None:
        pass

    def choose(self, target: object, parent: Node, candidates: Sequence[Node]) -> Choice:
        self.asked.append(parent.id)
        pick = self.picks[parent.id]
        return Choice(pick, "" if pick is not None else "no idea")

    async def achoose(self, target: object, parent: Node, candidates: Sequence[Node]) -> Choice:
        await asyncio.sleep(0)
        return self.choose(target, parent, candidates)


@pytest.mark.parametrize(
    ("picks", "path", "invalid"),
    [
        ({"root": 1, "1": 0}, ["1", "1.0"], None),
        ({"root": 0, "0": None}, ["0"], "no idea"),
        ({"root": 5}, [], "(empty answer)"),  # an index outside the list is a miss, not an IndexError
    ],
)
def test_sync_and_async_drivers_walk_the_same_way(picks: dict[str, int | None], path: list[str], invalid: str | None) -> None:
    tree = hand_tree()
    target = sample_targets(tree, 1)[0]
    sync, awaited = Scripted(picks), Scripted(picks)
    first = descend(tree, sync, target)  # type: ignore[arg-type]
    second = asyncio.run(descend_async(tree, awaited, target))  # type: ignore[arg-type]
    assert first == second
    assert first.predicted_path == path and first.invalid_answer == invalid
    assert sync.asked == awaited.asked == ["root", *path[: len(sync.asked) - 1]]


def test_the_walk_asks_only_where_there_is_a_choice() -> None:
    tree = hand_tree()
    target = sample_targets(tree, 1)[0]
    walk = walk_down(tree, target)
    parent, children = next(walk)
    assert parent.id == "root" and [c.id for c in children] == ["0", "1"]
    parent, children = walk.send(Choice(0))
    assert parent.id == "0" and [c.id for c in children] == ["0.0", "0.1"]
    with pytest.raises(StopIteration) as finished:
        walk.send(Choice(1))
    assert finished.value.value.predicted_path == ["0", "0.1"]


def test_every_built_in_prompt_is_read_by_one_loader() -> None:
    assert navigate_prompt() == load_builtin("navigate", "v1")
    assert extract_prompt() == load_builtin("extract_facets")
    with pytest.raises(PromptError, match="no built-in prompt navigate@v9"):
        navigate_prompt("v9")
    with pytest.raises(PromptError, match="unknown prompt 'nonsense'; the prompts are label_leaf"):
        load_builtin("nonsense")


@pytest.mark.parametrize("spec", ["navigate", "navigate@v1", "extract_facets@v1"])
def test_a_label_run_cannot_pick_a_prompt_of_another_stage(spec: str) -> None:
    with pytest.raises(PromptError, match=f"unknown prompt '{spec.split('@')[0]}'; the prompts are label_leaf, label_parent, distinct_siblings"):
        resolve_prompts([spec])
