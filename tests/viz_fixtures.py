"""Shared helpers for the viz tests: a small, realistic, hand-made topic tree.

Three topics with two subtopics each, 36 documents, one label that tries to inject a script, and a
leaf labelled by an LLM, so tests can check escaping and label provenance.
"""

from __future__ import annotations

from topicmap.hierarchy.tree.topic_tree import ROOT_ID, Document, LabelMeta, Node, TopicTree

EVIL_LABEL = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">Jars'

_TOPICS: dict[str, tuple[str, list[str], dict[str, tuple[str, list[str], list[str]]]]] = {
    "0": (
        "Astronomy",
        ["star", "planet", "telescope"],
        {
            "0.0": ("Exoplanets", ["transit", "exoplanet", "orbit"], [
                "Transit photometry finds an exoplanet orbiting a red dwarf",
                "Radial velocity confirms a hot Jupiter exoplanet",
                "Habitable zone exoplanet orbit measured by a space telescope",
                "Atmosphere of a transiting exoplanet shows water vapour",
                "Exoplanet orbit resonance in a compact system",
                "Direct imaging of a young exoplanet",
                "Exoplanet transit timing variations reveal a hidden companion",
            ]),
            "0.1": ("Galaxies", ["galaxy", "redshift", "spiral"], [
                "Spiral galaxy arms traced by young stars",
                "High redshift galaxy seen by infrared telescope",
                "Galaxy mergers trigger bursts of star formation",
                "Dark matter halo of a dwarf galaxy",
                "Quasar at the centre of an elliptical galaxy",
            ]),
        },
    ),
    "1": (
        "Cooking",
        ["recipe", "bake", "kitchen"],
        {
            "1.0": ("Bread baking", ["dough", "yeast", "crust"], [
                "Sourdough starter feeding schedule for a tangy crust",
                "Yeast dough proofing times in a cold kitchen",
                "Baguette shaping and scoring for an open crumb",
                "Rye bread with caraway and a dense crust",
                "No-knead dough baked in a dutch oven",
                "Whole wheat bread hydration and yeast",
            ]),
            "1.1": (EVIL_LABEL, ["pickle", "jar", "brine"], [
                "Quick pickled cucumbers in a vinegar brine",
                "Fermented cabbage in a jar for three weeks",
                "<b>Bold</b> claims about brine strength and <script>alert(1)</script> safety",
                "Preserving lemons in salt brine",
                "Pickled onions for tacos",
            ]),
        },
    ),
    "2": (
        "Programming",
        ["code", "python", "software"],
        {
            "2.0": ("Testing", ["pytest", "fixture", "assert"], [
                "Pytest fixtures share setup between tests",
                "Property based testing finds edge cases",
                "Mocking a network client in unit tests",
                "Flaky tests caused by time zones",
                "Snapshot testing of rendered output",
                "Coverage reports for a python package",
            ]),
            "2.1": ("Concurrency", ["thread", "async", "lock"], [
                "Async python with an event loop",
                "Deadlock when two threads take locks in different order",
                "Thread pools for blocking input output",
                "Race conditions in shared counters",
                "Structured concurrency with task groups",
                "Backpressure in async producer consumer queues",
                "Python global interpreter lock and threads",
            ]),
        },
    ),
}


def small_tree() -> TopicTree:
    """The hand-made tree: root -> 3 topics -> 6 leaves, 36 documents with map coordinates."""
    nodes: list[Node] = []
    documents: list[Document] = []
    tops: list[Node] = []
    leaves: list[Node] = []
    row = 0
    for t, (top_id, (top_label, top_kw, subs)) in enumerate(_TOPICS.items()):
        top_size = sum(len(texts) for _, _, texts in subs.values())
        tops.append(Node(id=top_id, parent=ROOT_ID, depth=1, size=top_size, label=top_label,
                         summary=f"Everything about {top_label.lower()}.", keywords=top_kw,
                         keyword_scores=[0.9, 0.8, 0.7]))
        for s, (leaf_id, (leaf_label, leaf_kw, texts)) in enumerate(subs.items()):
            meta = LabelMeta(labeler="llm", model="fake-model-1", prompt="label_leaf@v1") if leaf_id == "0.0" \
                else LabelMeta(labeler="keywords")
            leaves.append(Node(id=leaf_id, parent=top_id, depth=2, size=len(texts), label=leaf_label,
                               summary=f"Documents on {leaf_label}.", keywords=leaf_kw,
                               keyword_scores=[0.5, 0.4, 0.3], label_meta=meta))
            for k, text in enumerate(texts):
                documents.append(Document(
                    id=f"doc-{row:03d}", leaf=leaf_id, title=text.split(" ")[0] + f" note {row}",
                    text=text + ". " + "More words follow here to make a longer body. " * 6,
                    x=float(t * 10 + s * 3 + 0.3 * k), y=float(t * 5 - s * 2 + 0.2 * (k % 3)),
                ))
                row += 1
    root = Node(id=ROOT_ID, parent=None, depth=0, size=len(documents), label="",
                summary="Thirty-six short notes.", keywords=["notes"], representative_ids=["doc-020", "doc-005"])
    # representatives, including ids that are not under the node or do not exist (ignored)
    leaves[-1].representative_ids = ["doc-033", "doc-030", "doc-000", "missing"]
    return TopicTree([root, *tops, *leaves], documents, manifest={"source": "tests/viz_fixtures"})


QUOTED_LABEL = 'The "Brexit" Debate & <b>x</b>'  # LLM labels carry quotes in normal use


def quoted_tree() -> TopicTree:
    """The hand-made tree with the "Programming" topic labelled :data:`QUOTED_LABEL`."""
    tree = small_tree()
    tree.node("2").label = QUOTED_LABEL
    return tree
