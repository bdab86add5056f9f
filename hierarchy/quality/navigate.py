"""Navigation accuracy: can a reader find a document by walking down the tree, reading labels only?

The utility measure of Science Hierarchography: a navigator sees a target document (its title and the
first 300 characters of its text) and, from the root, picks one child at a time by the children's
labels and summaries. We score exact-leaf accuracy, ordered node-match (the share of the true path
from the top that the navigator followed before its first wrong turn) and accuracy per level.

Two navigators share one descent loop: :class:`EmbeddingNavigator` (cosine between the document and
each child's label + summary; free and deterministic) and :class:`LLMNavigator` (a chat model picks a
numbered candidate; an answer naming no candidate is a miss and is counted).
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from topicmap.hierarchy.base import jsontext
from topicmap.hierarchy.inputs.embed import Embedder
from topicmap.hierarchy.base.errors import InputError, TopicmapError
from topicmap.hierarchy.tree.node_text import SUBTOPIC_KEYWORDS, node_text  # noqa: F401  (navigate.node_text: what a navigator reads)
from topicmap.hierarchy.tree.topic_tree import ROOT_ID, Node, TopicTree
from topicmap.hierarchy.tree.embedder import embed_texts
from topicmap.hierarchy.inputs.vectors import normalise_rows

QUERY_CHARS = 300
PROMPT_NAME = "navigate"
PROMPT_VERSION = "v1"


@dataclass(frozen=True)
class Target:
    """One document to find: what the navigator reads, and the path it should take (root excluded)."""

    row: int
    doc_id: str
    query: str
    true_path: tuple[str, ...]


@dataclass(frozen=True)
class Choice:
    """A navigator's pick among candidates: an index, or None with the raw answer when it named none."""

    index: int | None
    answer: str = ""


class Navigator(Protocol):
    """Picks one child for a target. ``prepare`` runs once before any ``choose`` (batch work goes there)."""

    name: str

    def prepare(self, tree: TopicTree, targets: Sequence[Target]) -> None: ...

    def choose(self, target: Target, parent: Node, candidates: Sequence[Node]) -> Choice: ...


def subtopics_of(tree: TopicTree, node: Node) -> list[Node]:
    return [] if tree.is_leaf(node.id) else tree.children(node.id)


def target_query(title: str, text: str, chars: int = QUERY_CHARS) -> str:
    """The navigator's view of a document: title plus the first ``chars`` characters of its text."""
    head = text[:chars]
    return f"{title}\n{head}" if title else head


def sample_targets(tree: TopicTree, size: int, seed: int = 0) -> list[Target]:
    """A seeded sample of documents to find (row order, so results do not depend on sampling order)."""
    n = tree.n_documents
    if n == 0:
        raise InputError("the tree has no documents, so there is none to find by navigating; skip navigation with --navigator none")
    if size < 1:
        raise InputError(f"--sample {size}: must be at least 1")
    if size > n:
        raise InputError(f"--sample {size} is larger than the corpus ({n} documents in the tree); use at most {n}")
    if not tree.store.has_text():
        raise InputError("the tree stores no document texts or titles (built with --no-text), so there is nothing to navigate with")
    rows = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
    out = []
    for row, doc in zip(rows.tolist(), tree.store.rows(rows)):  # only the sample is read
        out.append(Target(row, doc.id, target_query(doc.title, doc.text), tuple(tree.document_path(row)[1:])))
    return out


# -- the descent and its scores -------------------------------------------------------------
@dataclass
class NavigationResult:
    doc_id: str
    true_path: list[str]
    predicted_path: list[str]
    invalid_answer: str | None = None  # the raw answer that named no candidate, if any

    @property
    def exact(self) -> bool:
        return self.predicted_path == self.true_path

    @property
    def matched(self) -> int:
        """Levels followed correctly from the top before the first wrong (or invalid) turn."""
        count = 0
        for predicted, true in zip(self.predicted_path, self.true_path):
            if predicted != true:
                break
            count += 1
        return count


@dataclass
class LevelAccuracy:
    depth: int
    targets: int  # targets whose true path reaches this depth
    correct: int
    accuracy: float


@dataclass
class NavigationScores:
    navigator: str
    sample: int
    seed: int
    exact_leaf_accuracy: float
    node_match: float  # mean over targets of matched levels / true path length
    levels: list[LevelAccuracy]
    invalid_answers: int
    invalid_examples: list[str] = field(default_factory=list)
    labels: str = ""  # which labels were read, e.g. "keywords" or "llm"
    positions: list[int] = field(default_factory=list)  # LLM navigator: answers naming the 1st, 2nd, ... shown candidate
    expected_positions: list[float] = field(default_factory=list)  # ... and how many an unbiased reader would give
    cache_hits: int = 0


Step = tuple[Node, list[Node]]  # a parent and its children: one choice to make


def walk_down(tree: TopicTree, target: Target) -> Generator[Step, Choice, NavigationResult]:
    """The one descent every navigator makes, without the choosing: it yields each parent with two or
    more children and is sent back the navigator's :class:`Choice` (a single child is taken without
    asking); an answer naming no child ends the walk as a miss. Sync and async drivers share it."""
    node = tree.root
    path: list[str] = []
    while not tree.is_leaf(node.id):
        children = tree.children(node.id)
        choice = (yield node, children) if len(children) > 1 else Choice(0)
        if choice.index is None or not 0 <= choice.index < len(children):
            return NavigationResult(target.doc_id, list(target.true_path), path, invalid_answer=choice.answer or "(empty answer)")
        node = children[choice.index]
        path.append(node.id)
    return NavigationResult(target.doc_id, list(target.true_path), path)


def descend(tree: TopicTree, navigator: Navigator, target: Target) -> NavigationResult:
    """One target's walk, each choice made by ``navigator.choose``."""
    walk = walk_down(tree, target)
    try:
        parent, children = next(walk)
        while True:
            parent, children = walk.send(navigator.choose(target, parent, children))
    except StopIteration as finished:
        return finished.value


async def descend_async(tree: TopicTree, navigator: LLMNavigator, target: Target) -> NavigationResult:
    """The same walk, each choice awaited from ``navigator.achoose`` (targets then run concurrently)."""
    walk = walk_down(tree, target)
    try:
        parent, children = next(walk)
        while True:
            parent, children = walk.send(await navigator.achoose(target, parent, children))
    except StopIteration as finished:
        return finished.value


def navigate(tree: TopicTree, navigator: Navigator, targets: Sequence[Target], seed: int = 0) -> tuple[NavigationScores, list[NavigationResult]]:
    navigator.prepare(tree, targets)
    if isinstance(navigator, LLMNavigator) and hasattr(navigator.chat, "__aenter__"):
        import asyncio

        results = asyncio.run(_navigate_async(tree, navigator, targets))
    else:
        results = [descend(tree, navigator, t) for t in targets]
    scores = score_navigation(results, navigator.name, seed, labels=_labelers(tree))
    if isinstance(navigator, LLMNavigator):
        scores.positions, scores.expected_positions = navigator.position_counts()
        scores.cache_hits = navigator.cache_hits
    return scores, results


def score_navigation(results: Sequence[NavigationResult], name: str, seed: int, labels: str = "") -> NavigationScores:
    if not results:
        raise TopicmapError("no navigation targets")
    max_depth = max(len(r.true_path) for r in results)
    levels = []
    for depth in range(1, max_depth + 1):
        reach = [r for r in results if len(r.true_path) >= depth]
        correct = sum(1 for r in reach if r.matched >= depth)
        levels.append(LevelAccuracy(depth, len(reach), correct, round(correct / len(reach), 4)))
    invalid = [r.invalid_answer for r in results if r.invalid_answer is not None]
    return NavigationScores(
        navigator=name,
        sample=len(results),
        seed=seed,
        exact_leaf_accuracy=round(sum(r.exact for r in results) / len(results), 4),
        node_match=round(float(np.mean([r.matched / max(len(r.true_path), 1) for r in results])), 4),
        levels=levels,
        invalid_answers=len(invalid),
        invalid_examples=[a[:120] for a in invalid[:5]],
        labels=labels,
    )


def _labelers(tree: TopicTree) -> str:
    kinds = sorted({n.label_meta.labeler for n in tree.iter_nodes() if n.id != ROOT_ID})
    return "+".join(kinds)


# -- the embedding navigator ----------------------------------------------------------------
class EmbeddingNavigator:
    """Picks the child whose label + summary is closest (cosine) to the document, in the tree's space.

    With ``centre`` (default) both sides are first shifted by the corpus mean (the root's centroid):
    sentence embeddings share a large common direction, and removing it lets the cosine compare what
    differs between topics. It reads nothing but each child's text from :func:`node_text` (for a
    keyword-labelled parent that includes its children's keywords), never centroids. Centring is
    not a uniform gain: compare the "uncentred" rows of bench/results/quality.md.
    """

    name = "embedding"

    def __init__(self, embedder: Embedder, cache_dir: Path | None = None, keywords_as_summary: bool = True, centre: bool = True) -> None:
        self.embedder = embedder
        self.cache_dir = cache_dir
        self.keywords_as_summary = keywords_as_summary
        self.centre = centre
        self._nodes: dict[str, np.ndarray] = {}
        self._queries: dict[int, np.ndarray] = {}

    def prepare(self, tree: TopicTree, targets: Sequence[Target]) -> None:
        nodes = [n for n in tree.iter_nodes() if n.id != ROOT_ID]
        texts = [node_text(n, self.keywords_as_summary, subtopics_of(tree, n)) for n in nodes]
        vectors = embed_texts(texts, self.embedder, tree, self.cache_dir, "node labels")
        queries = embed_texts([t.query for t in targets], self.embedder, tree, self.cache_dir, "target documents")
        if self.centre and tree.root.centroid is not None:
            mean = tree.root.centroid.astype(np.float32)
            vectors, queries = normalise_rows(vectors - mean), normalise_rows(queries - mean)
        self._nodes = {n.id: v for n, v in zip(nodes, vectors)}
        self._queries = {t.row: q for t, q in zip(targets, queries)}

    def choose(self, target: Target, parent: Node, candidates: Sequence[Node]) -> Choice:
        query = self._queries[target.row]
        scores = [float(self._nodes[c.id] @ query) for c in candidates]
        return Choice(int(np.argmax(scores)))


# -- the LLM navigator ----------------------------------------------------------------------
class LabellerChat:
    """The labeller's :class:`topicmap.hierarchy.llm.client.ChatClient` (retries, backoff, bounded concurrency) as a text backend.

    Fatal errors (no server, bad key, unknown model) stop the run; a request that still fails after
    the client's retries is a miss for that target, reported with the invalid answers.
    """

    def __init__(self, config: Any) -> None:
        from topicmap.hierarchy.llm.client import ChatClient

        self.config = config
        self.client = ChatClient(config)

    async def __aenter__(self) -> LabellerChat:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.__aexit__(*exc)

    async def complete(self, messages: list[dict[str, str]]) -> str:
        from topicmap.hierarchy.llm.client import LLMError

        try:
            return (await self.client.complete(messages)).text
        except LLMError as exc:
            if exc.fatal:
                raise
            return f"(request failed: {exc})"


def navigate_prompt(version: str = PROMPT_VERSION) -> Any:
    """The built-in navigation prompt as the labeller's strict :class:`PromptTemplate`."""
    from topicmap.hierarchy.llm.prompting import PromptError, builtin_versions, load_builtin

    if version not in builtin_versions(PROMPT_NAME):
        raise PromptError(f"no built-in prompt {PROMPT_NAME}@{version}")
    return load_builtin(PROMPT_NAME, version)


class LLMNavigator:
    """A chat model picks a numbered child by its label and summary; answers are checked against the list.

    ``chat`` has a sync ``complete(messages) -> str`` (tests, simple scripts) or is a :class:`LabellerChat` (async); with the
    latter, targets are navigated concurrently (each descent is sequential by nature). Candidates are
    shown in an order shuffled per target and step (seeded), so a model that favours the first option
    cannot look accurate because the largest child comes first; how often each shown position was
    picked is counted against what an unbiased reader would give. Valid answers go to ``cache`` (keyed
    like labels: model, prompt, rendered messages), so a rerun asks nothing again.
    """

    def __init__(
        self,
        chat: Any,
        model: str = "",
        prompt: Any = None,
        keywords_as_summary: bool = True,
        document_chars: int = 600,
        seed: int = 0,
        cache: Any = None,
    ) -> None:
        from topicmap.hierarchy.llm.cache import AnswerCache

        self.chat = chat
        self.model = model
        self.prompt = prompt
        self.keywords_as_summary = keywords_as_summary
        self.document_chars = document_chars
        self.seed = seed
        self.cache = cache if cache is not None else AnswerCache(None)
        self.name = f"llm:{model}" if model else "llm"
        self.cache_hits = 0
        self._prompt: Any = None
        self._chosen: dict[int, int] = {}
        self._expected: dict[int, float] = {}

    def prepare(self, tree: TopicTree, targets: Sequence[Target]) -> None:
        self._prompt = self.prompt or navigate_prompt()

    def shown_order(self, target: Target, parent: Node, count: int) -> list[int]:
        """The candidates' indices in the order shown to the model: shuffled, the same for the same seed."""
        import random

        order = list(range(count))
        random.Random(f"topicmap-navigate:{self.seed}:{target.row}:{parent.id}").shuffle(order)
        return order

    def messages(self, target: Target, parent: Node, candidates: Sequence[Node]) -> list[dict[str, str]]:
        from topicmap.hierarchy.llm.prompting import untrusted

        assert self._prompt is not None, "prepare() first"
        context = {
            "document": untrusted(target.query, self.document_chars),
            "parent": {"label": untrusted(parent.label, 200) if parent.id != ROOT_ID else "", "is_root": parent.id == ROOT_ID},
            "candidates": [
                {"number": i + 1, "label": untrusted(c.label, 200), "summary": untrusted(_summary(c, self.keywords_as_summary), 400)}
                for i, c in enumerate(candidates)
            ],
        }
        return self._prompt.render(context)

    def choose(self, target: Target, parent: Node, candidates: Sequence[Node]) -> Choice:
        order, messages, key, cached = self._ask(target, parent, candidates)
        answer = cached if cached is not None else self.chat.complete(messages)
        return self._pick(order, candidates, key, answer, cached is not None)

    async def achoose(self, target: Target, parent: Node, candidates: Sequence[Node]) -> Choice:
        order, messages, key, cached = self._ask(target, parent, candidates)
        answer = cached if cached is not None else await self.chat.complete(messages)
        return self._pick(order, candidates, key, answer, cached is not None)

    def position_counts(self) -> tuple[list[int], list[float]]:
        """Answers per shown position (1st, 2nd, ...) and the counts an unbiased reader would give."""
        width = max([*self._chosen, *self._expected], default=-1) + 1
        return [self._chosen.get(i, 0) for i in range(width)], [round(self._expected.get(i, 0.0), 2) for i in range(width)]

    def _ask(self, target: Target, parent: Node, candidates: Sequence[Node]) -> tuple[list[int], list[dict[str, str]], str, str | None]:
        from topicmap.hierarchy.llm.cache import cache_key

        order = self.shown_order(target, parent, len(candidates))
        messages = self.messages(target, parent, [candidates[i] for i in order])
        key = cache_key(self.model, self._prompt.id, self._prompt.hash, messages, {})
        entry = self.cache.get(key)
        cached = entry.answer.get("text") if entry is not None else None
        if entry is not None and not (isinstance(cached, str) and parse_choice(cached, [candidates[i].label for i in order]) is not None):
            self.cache.discard(key, "it is not a valid navigation answer")
            cached = None
        return order, messages, key, cached if isinstance(cached, str) else None

    def _pick(self, order: list[int], candidates: Sequence[Node], key: str, answer: str, from_cache: bool) -> Choice:
        from topicmap.hierarchy.llm.cache import CachedAnswer

        shown = [candidates[i] for i in order]
        position = parse_choice(answer, [c.label for c in shown])
        if position is None:
            return Choice(None, answer)
        for i in range(len(shown)):
            self._expected[i] = self._expected.get(i, 0.0) + 1.0 / len(shown)
        self._chosen[position] = self._chosen.get(position, 0) + 1
        if from_cache:
            self.cache_hits += 1
        else:
            self.cache.put(key, CachedAnswer({"text": answer}, 0, 0))
        return Choice(order[position], answer)


def _summary(node: Node, keywords_as_summary: bool) -> str:
    text = node_text(node, keywords_as_summary)
    return text[len(node.label) + 2 :] if text.startswith(node.label + ": ") else ""


async def _navigate_async(tree: TopicTree, navigator: LLMNavigator, targets: Sequence[Target]) -> list[NavigationResult]:
    """Every target at once (the client bounds the requests); the first fatal error cancels the rest."""
    import asyncio

    async with navigator.chat:
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(descend_async(tree, navigator, t)) for t in targets]
        except BaseExceptionGroup as errors:
            raise _first_error(errors) from None
    return [task.result() for task in tasks]


def _first_error(errors: BaseExceptionGroup) -> BaseException:
    """The error that stopped the descents (the others are the cancellations it caused)."""
    import asyncio

    for error in errors.exceptions:
        if isinstance(error, BaseExceptionGroup):
            return _first_error(error)
        if not isinstance(error, asyncio.CancelledError):
            return error
    return errors.exceptions[0]


def parse_choice(answer: str, labels: Sequence[str]) -> int | None:
    """The candidate an answer names: ``{"choice": 2}``, ``2``, or the exact label; None otherwise."""
    text = answer.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", text, flags=re.S)
    if fenced:
        text = fenced.group(1)
    value: Any = text
    try:
        value = jsontext.loads(text)
    except json.JSONDecodeError:
        pass
    if isinstance(value, dict):
        value = value.get("choice", value.get("number", value.get("label")))
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and float(value).is_integer():
        number = int(value)
        return number - 1 if 1 <= number <= len(labels) else None
    if isinstance(value, str):
        candidate = value.strip().strip('"').strip()
        if re.fullmatch(r"\d+", candidate):
            number = int(candidate)
            return number - 1 if 1 <= number <= len(labels) else None
        lowered = [label.strip().lower() for label in labels]
        if candidate.lower() in lowered and lowered.count(candidate.lower()) == 1:
            return lowered.index(candidate.lower())
    return None
