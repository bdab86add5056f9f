"""Shared helpers for the labelling tests: a small realistic tree and fast client settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from topicmap.hierarchy.llm.client import LLMConfig
from topicmap.hierarchy.tree.topic_tree import Document, LabelMeta, Node, TopicTree
from tests.openai_server import FakeOpenAIServer

TOPICS: dict[str, tuple[list[str], dict[str, tuple[list[str], list[str]]]]] = {
    "0": (
        ["astronomy", "space", "stars", "telescope"],
        {
            "0.0": (
                ["exoplanet", "transit", "orbit", "star"],
                [
                    "A transit survey found a rocky exoplanet orbiting a red dwarf every nine days.",
                    "Radial velocity measurements confirm a second exoplanet in the habitable zone.",
                    "The telescope watched the star dim as the planet crossed its disc.",
                ],
            ),
            "0.1": (
                ["black", "hole", "accretion", "jet"],
                [
                    "The black hole at the galaxy's centre swallows gas from an accretion disc.",
                    "Relativistic jets from the black hole were imaged at radio wavelengths.",
                    "Two merging black holes sent gravitational waves across the universe.",
                ],
            ),
        },
    ),
    "1": (
        ["cooking", "kitchen", "recipe", "food"],
        {
            "1.0": (
                ["bread", "dough", "flour", "oven"],
                [
                    "Knead the dough for ten minutes until the flour is fully hydrated.",
                    "A hot oven and steam give the bread a crackling crust.",
                    "Whole wheat flour absorbs more water than white bread flour.",
                ],
            ),
            "1.1": (
                ["fermentation", "kimchi", "yogurt", "bacteria"],
                [
                    "Lactic acid bacteria turn cabbage into kimchi within a week.",
                    "Keep yogurt warm overnight so the cultures can ferment the milk.",
                    "Fermentation preserves vegetables and deepens their flavour.",
                ],
            ),
        },
    ),
    "2": (
        ["finance", "market", "money", "investing"],
        {
            "2.0": (
                ["stocks", "dividend", "index", "shares"],
                [
                    "Index funds spread money across hundreds of stocks at a low fee.",
                    "The company raised its dividend for the tenth year in a row.",
                    "Shares fell after the quarterly earnings missed expectations.",
                ],
            ),
            "2.1": (
                ["bitcoin", "crypto", "blockchain", "wallet"],
                [
                    "Bitcoin's price swung by twenty percent in a single week.",
                    "A hardware wallet keeps crypto keys offline and away from thieves.",
                    "Every blockchain transaction is recorded in a public ledger.",
                ],
            ),
        },
    ),
}


def make_tree(collide: bool = False, chain: bool = False, injection: str | None = None) -> TopicTree:
    """3 topics x 2 subtopics x 3 documents, keyword labels as the build step writes them.

    ``collide``: leaves 1.0 and 1.1 get the same top keywords (so the same first label).
    ``chain``: an extra topic 3 whose only child 3.0 is a leaf (a single-child node).
    ``injection``: the text of an extra first representative document of leaf 2.1.
    """
    topics = {k: (kw, dict(sub)) for k, (kw, sub) in TOPICS.items()}
    if collide:
        kw, docs = topics["1"][1]["1.1"]
        topics["1"][1]["1.1"] = (["bread", "dough", *kw], docs)
    if chain:
        topics["3"] = (
            ["gardening", "soil", "plants"],
            {"3.0": (["compost", "soil", "worms"], ["Worms turn kitchen scraps into rich compost.", "Compost improves clay soil."])},
        )
    nodes: list[Node] = []
    documents: list[Document] = []
    total = 0
    root = Node("root", None, 0, 0, label="science, cooking, finance", keywords=["science", "food", "money"])
    nodes.append(root)
    for topic_id, (topic_kw, leaves) in topics.items():
        topic = Node(topic_id, "root", 1, 0, label=", ".join(topic_kw[:3]), keywords=list(topic_kw))
        nodes.append(topic)
        for leaf_id, (leaf_kw, texts) in leaves.items():
            texts = list(texts)
            if injection is not None and leaf_id == "2.1":
                texts.insert(0, injection)
            doc_ids = [f"d{leaf_id}.{i}" for i in range(len(texts))]
            documents.extend(Document(d, leaf_id, text=t, title=f"Note {d}") for d, t in zip(doc_ids, texts, strict=True))
            leaf = Node(leaf_id, topic_id, 2, len(texts), label=", ".join(leaf_kw[:3]), keywords=list(leaf_kw), representative_ids=doc_ids)
            leaf.label_meta = LabelMeta()
            nodes.append(leaf)
            topic.size += len(texts)
        total += topic.size
    root.size = total
    return TopicTree(nodes, documents)


def fast_config(base_url: str, **overrides: object) -> LLMConfig:
    """Client settings with tiny timeouts and backoffs so fault tests take milliseconds."""
    settings: dict[str, object] = dict(
        model="fake-model",
        base_url=base_url,
        api_key="test-key",
        timeout=2.0,
        concurrency=4,
        max_retries=2,
        backoff_base=0.01,
        backoff_max=0.05,
        retry_after_max=2.0,
    )
    settings.update(overrides)
    return LLMConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server
