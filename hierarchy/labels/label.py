"""The labelling walk: label every node bottom-up through an LLM, validated, cached, resumable.

Leaves are labelled from their documents, parents from their children's labels, each node as soon as
the children it needs are done (one asyncio task per node, the HTTP concurrency bounded by the
client). Before a parent is labelled, its children's labels are made distinct. A node whose label
inputs are unchanged since the last run keeps its label; an answer seen before comes from the cache;
so re-running on an unchanged tree makes no requests. Failures never lose the tree: the node keeps its
previous label (an earlier LLM label if it had one, else its keyword label) and records why. Each retry
sends something new: every rejection so far, stated with its numbers, at a higher temperature.

Which nodes a run visits, and the dry run's estimate, are planned in :mod:`topicmap.hierarchy.labels.plan`;
asking until an answer passes is :mod:`topicmap.hierarchy.labels.ask`. This module is the walk between them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Collection, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from topicmap.hierarchy.base.errors import TopicmapError
from topicmap.hierarchy.labels.ask import Answers, Asker
from topicmap.hierarchy.labels.context import LabelRules, PromptBudget, PromptBuilder, Rendered
from topicmap.hierarchy.labels.fidelity import CloserToSibling, FidelityCheck
from topicmap.hierarchy.labels.plan import Estimate, label_copy, planned_order
from topicmap.hierarchy.labels.validate import (
    ContrastLeak,
    InvalidAnswer,
    LabelAnswer,
    SoftViolation,
    check_parent_label,
    normalise,
    too_narrow,
    validate_distinct_answer,
    validate_label_answer,
)
from topicmap.hierarchy.llm.client import ChatClient, LLMConfig, LLMError
from topicmap.hierarchy.llm.cache import AnswerCache, CachedAnswer, cache_key
from topicmap.hierarchy.llm.prompting import PromptSet, PromptTemplate
from topicmap.hierarchy.tree.provenance import LabelProvenance
from topicmap.hierarchy.tree.topic_tree import ROOT_ID, LabelMeta, Node, TopicTree

KEPT_DESPITE = "kept_despite"  # in a cached answer: the soft rule it broke when kept as the best of its tries


@dataclass(frozen=True)
class LabelOptions:
    """What to label and how. ``targets=None`` means every node; ancestors of targets are refreshed."""

    prompts: PromptSet
    budget: PromptBudget = field(default_factory=PromptBudget)
    rules: LabelRules = field(default_factory=LabelRules)
    max_attempts: int = 3  # answers per node, the error fed back after each invalid one
    targets: frozenset[str] | None = None
    with_ancestors: bool = True  # also refresh the labels above the targets (their inputs may change)
    force: bool = False  # targets are relabelled even if their inputs did not change
    refresh: bool = False  # targets skip the cache too (fresh answers)
    checkpoint_every: float = 5.0  # seconds between checkpoints while running
    fidelity: FidelityCheck | None = None  # names closer to a sibling's documents than their own are sent back
    candidates: int = 5  # when every try broke a rule about the name: names asked for in one last request (0: none)


@dataclass
class RunReport:
    """Counts for one run: what the progress bar shows and the command prints at the end."""

    model: str
    prompts: list[str]
    dry_run: bool = False
    planned: int = 0  # nodes this run looks at
    done: int = 0
    calls: int = 0  # answers received (node labels, sibling passes, validation retries)
    requests: int = 0  # HTTP requests, transport retries included
    label_calls: int = 0
    sibling_calls: int = 0
    labelled: int = 0  # nodes given a new LLM label from a fresh answer
    cache_hits: int = 0
    kept: int = 0  # inputs unchanged since the last run: label kept, no request
    reused: int = 0  # single-child nodes that took their child's label
    failed: int = 0
    renamed: int = 0
    candidate_calls: int = 0  # last requests for several names, after every try broke a rule about the name
    from_candidates: int = 0  # nodes whose name was picked from such a list
    unfaithful: int = 0  # kept a name that reads closer to a sibling (every try did); see LabelProvenance.warning
    fidelity: str = ""  # how names were checked against their siblings' documents
    sibling_groups_unknown: int = 0  # dry run: parents whose sibling pass cannot be foreseen
    prompt_tokens: int = 0
    completion_tokens: int = 0
    call_prompt_tokens: list[int] = field(default_factory=list)
    seconds: float = 0.0
    aborted: str | None = None

    @property
    def max_call_prompt_tokens(self) -> int:
        return max(self.call_prompt_tokens, default=0)


def start_report(config: LLMConfig, options: LabelOptions, dry_run: bool = False) -> RunReport:
    """An empty report for a run with these prompts."""
    report = RunReport(config.model, [options.prompts.leaf.id, options.prompts.parent.id, options.prompts.distinct.id], dry_run)
    report.fidelity = f"checked with {options.fidelity.embedder}" if options.fidelity is not None else "not checked"
    return report


class TreeLabeler:
    """One run over one tree: the walk bottom-up and what each node's answer does to the tree.

    Where answers come from is ``answers``: the model (:class:`topicmap.hierarchy.labels.ask.Asker`), or
    for a dry run an estimate that counts each request and leaves its answer unknown
    (:class:`topicmap.hierarchy.labels.plan.Estimate`; the tree is then a copy). A node whose answer,
    or a child's, is unknown stays unknown: no cache lookup can match its prompt, and its siblings'
    collisions cannot be foreseen.
    """

    def __init__(
        self,
        tree: TopicTree,
        config: LLMConfig,
        options: LabelOptions,
        cache: AnswerCache,
        answers: Answers,
        report: RunReport,
        checkpoint: Callable[[], None] | None = None,
        progress: Callable[[RunReport], None] | None = None,
    ) -> None:
        self.tree = tree
        self.config = config
        self.options = options
        self.cache = cache
        self.answers = answers
        self.checkpoint = checkpoint
        self.progress = progress
        self.report = report
        self._params = {"temperature": config.temperature, "max_tokens": config.max_tokens}
        self._prompts = PromptBuilder(self.tree, options.budget, options.rules)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._touched: set[str] = set()  # nodes labelled in this run (may be renamed by the sibling pass)
        self._unknown: set[str] = set()  # nodes whose label waits on an answer not known (a dry run's)
        self._dirty = False

    # -- the run ----------------------------------------------------------------------------
    async def run(self) -> RunReport:
        started = time.perf_counter()
        order = planned_order(self.tree, self.options)
        self.report.planned = len(order)
        self._preflight()
        saver = asyncio.create_task(self._checkpoint_loop()) if self.checkpoint else None
        error: BaseException | None = None
        try:
            async with asyncio.TaskGroup() as group:
                for node_id in order:
                    self._tasks[node_id] = group.create_task(self._node(node_id))
        except BaseExceptionGroup as exc_group:
            first = _first(exc_group)
            if isinstance(first, LLMError) and first.fatal:
                self.report.aborted = str(first)
            else:
                error = first
        finally:
            if saver is not None:
                saver.cancel()
            if self.checkpoint is not None:
                self.checkpoint()
            self.report.requests = self.answers.requests()
            self.report.seconds = time.perf_counter() - started
        if error is not None:
            raise error
        return self.report

    def _preflight(self) -> None:
        """Render each prompt once before any request, so a broken template fails now, not after the leaves."""
        tree, prompts = self.tree, self.options.prompts
        internal = next((n for n in tree.iter_nodes() if len(tree.children(n.id)) > 1), None)
        leaf = next(iter(tree.leaves()), None)
        if leaf is not None:
            self._prompts.leaf(prompts.leaf, leaf)
        if internal is not None:
            children = tree.children(internal.id)
            self._prompts.parent(prompts.parent, internal)
            self._prompts.distinct(prompts.distinct, internal, children, [children[-1].id])

    async def _node(self, node_id: str) -> None:
        children = self.tree.children(node_id)
        waits = [self._tasks[c.id] for c in children if c.id in self._tasks]
        if waits:
            await asyncio.gather(*waits)
        node = self.tree.node(node_id)
        if not children:
            await self._label(node, self.options.prompts.leaf)
        else:
            if len(children) > 1:
                await self._make_distinct(node, children)
            if len(children) == 1:
                self._reuse(node, children[0])
            else:
                await self._label(node, self.options.prompts.parent)
        self.report.done += 1
        self._dirty = True
        if self.progress is not None:
            self.progress(self.report)

    async def _checkpoint_loop(self) -> None:
        assert self.checkpoint is not None
        while True:
            await asyncio.sleep(self.options.checkpoint_every)
            if self._dirty:
                self._dirty = False
                self.checkpoint()

    # -- one label --------------------------------------------------------------------------
    def _is_target(self, node_id: str) -> bool:
        return self.options.targets is None or node_id in self.options.targets

    def _key(self, template: PromptTemplate, messages: list[dict[str, str]]) -> str:
        return cache_key(self.config.model, template.id, template.hash, messages, self._params)

    async def _label(self, node: Node, template: PromptTemplate) -> None:
        leaf = template is self.options.prompts.leaf
        rules = self.options.rules
        rendered = self._prompts.leaf(template, node) if leaf else self._prompts.parent(template, node)
        key = self._key(template, rendered.messages)
        target = self._is_target(node.id)
        meta = node.label_meta
        unchanged = meta.labeler == "llm" and meta.status == "ok" and meta.extra.input == key
        if unchanged and not (target and (self.options.force or self.options.refresh)):
            self.report.kept += 1
            return

        def validate(text: str, shown: Rendered) -> LabelAnswer:
            answer = validate_label_answer(
                text, rules, shown.messages[0]["content"], shown.own_text, shown.contrast_text, shown.child_labels, shown.documents,
                shown.child_summaries,
            )
            if self.options.fidelity is not None:
                self.options.fidelity.check(self.tree, node, answer)
            return answer

        def without_contrast() -> Rendered:
            return self._prompts.leaf(template, node, with_contrast=False)

        fallback = without_contrast if leaf else None
        children_unknown = any(c.id in self._unknown for c in self.tree.children(node.id))
        if not (target and self.options.refresh) and not children_unknown:
            hit = self._from_cache(key, node.id, json.dumps, validate, rendered, fallback)
            if hit is not None:
                answer, cached, warning = hit
                self.report.cache_hits += 1
                self._apply(node, answer, template, key, cached.prompt_tokens, cached.completion_tokens, 0)
                if warning:
                    node.label_meta.extra.warning = warning[:300]
                await self._rename_child_apart(node, template, cached)
                return
        outcome = await self.answers.ask(rendered, validate, fallback)
        self.report.label_calls += outcome.calls
        if not outcome.known:
            self._unknown.add(node.id)
        elif isinstance(outcome.value, LabelAnswer):
            stored: dict[str, Any] = {"label": outcome.value.label, "summary": outcome.value.summary}
            if outcome.soft is not None:
                stored[KEPT_DESPITE] = type(outcome.soft).__name__  # the best of a full set of tries: do not ask again
            self.cache.put(key, CachedAnswer(stored, outcome.prompt_tokens, outcome.completion_tokens))
            self.report.labelled += 1
            self._apply(node, outcome.value, template, key, outcome.prompt_tokens, outcome.completion_tokens, outcome.calls)
            if outcome.warning:
                node.label_meta.extra.warning = outcome.warning[:300]
            if outcome.from_candidates:
                node.label_meta.extra.name_from_candidates = True
            if isinstance(outcome.soft, CloserToSibling):
                self.report.unfaithful += 1
            await self._rename_child_apart(node, template, self.cache.get(key))
        else:
            self.report.failed += 1
            self._fail(node, template, outcome.error)

    async def _rename_child_apart(self, parent: Node, template: PromptTemplate, entry: CachedAnswer | None) -> None:
        """A parent that kept a child's label (after its retries): the child gets a more specific name.

        The child is renamed by the sibling prompt, with the parent's label as one more name to avoid
        (else a keyword is appended). The parent's prompt now shows the new child label, so its input key
        and cache entry move with it: a rerun finds the parent unchanged and asks nothing.
        """
        children = self.tree.children(parent.id)
        try:
            copied = check_parent_label(parent.label, [c.label for c in children])
        except InvalidAnswer:
            copied = None
        twin = next((c for c in children if c.label == copied), None)
        if twin is None or not self.answers.sends:  # an estimate does not work out renames (their requests are not counted)
            return
        template_d = self.options.prompts.distinct
        rendered = self._prompts.distinct(template_d, parent, children, [twin.id])
        key = self._key(template_d, rendered.messages)
        fixed = {c.id: c.label for c in children if c.id != twin.id} | {parent.id: parent.label}
        new_label: str | None = None
        cached = self.cache.get(key)
        if cached is not None and isinstance(cached.answer.get("labels"), dict):
            new_label = cached.answer["labels"].get(twin.id)
        if new_label is None:

            def validate(text: str, shown: Rendered) -> dict[str, str]:
                return validate_distinct_answer(text, self.options.rules, shown.messages[0]["content"], [twin.id], fixed)

            outcome = await self.answers.ask(rendered, validate, None)
            self.report.sibling_calls += outcome.calls
            if isinstance(outcome.value, dict):
                new_label = outcome.value[twin.id]
                self.cache.put(key, CachedAnswer({"labels": outcome.value}, outcome.prompt_tokens, outcome.completion_tokens))
        shown = self._prompts.leaf(self.options.prompts.leaf, twin).documents if self.tree.is_leaf(twin.id) else ()
        if new_label is not None and too_narrow(new_label, shown):
            new_label = None  # renamed after one team of a football leaf: a keyword says more
        taken = {normalise(v) for v in fixed.values()}
        if new_label is None or normalise(new_label) in taken:
            new_label = self._keyword_variant(twin, taken, len(children))
        self._rename(twin, new_label, template_d.id)
        twin.label_meta.extra.renamed_because = f"its parent {parent.id} has the same label"
        moved = self._key(template, self._prompts.parent(template, parent).messages)
        parent.label_meta.extra.input = moved
        if entry is not None:
            self.cache.put(moved, entry)

    def _from_cache(
        self,
        key: str,
        node_id: str,
        as_text: Callable[[dict[str, Any]], str],
        validate: Callable[[str, Rendered], Any],
        rendered: Rendered,
        fallback: Callable[[], Rendered] | None,
    ) -> tuple[Any, CachedAnswer, str] | None:
        """(answer, entry, warning) for a cached answer that passes the checks a fresh one must pass, or None.

        ``as_text`` turns the stored answer back into the text a model would have sent. What a fresh
        answer may get through is accepted here too: a leaf name checked without its contrast documents
        once they were withdrawn, and a name that breaks a soft rule with its warning, but only when it
        was stored as the best of a full set of tries: one that passed under other rules (an earlier run
        without the fidelity check) is asked for again, so the model can act on the rule. An entry
        that fails a hard rule is dropped, so the answer is asked for again.
        """
        cached = self.cache.get(key)
        if cached is None:
            return None

        def check(text: str, shown: Rendered) -> tuple[Any, str]:
            try:
                return validate(text, shown), ""
            except SoftViolation as exc:
                if not cached.answer.get(KEPT_DESPITE):
                    raise _AskAgain from None
                return exc.answer, str(exc)

        try:
            text = as_text(cached.answer)
            try:
                value, warning = check(text, rendered)
            except ContrastLeak:
                if fallback is None:
                    raise
                value, warning = check(text, fallback())
            return value, cached, warning
        except _AskAgain:
            return None
        except InvalidAnswer as exc:
            self.cache.discard(key, f"the stored answer for node {node_id} fails the answer checks ({exc})")
            return None

    # -- writing into the tree --------------------------------------------------------------
    def _now(self) -> str:
        return datetime.now(UTC).isoformat(timespec="seconds")

    def _keyword_fallback(self, node: Node) -> tuple[str, str]:
        meta = node.label_meta
        if meta.labeler == "keywords" and meta.extra.reused_from is None:
            return node.label, node.summary
        kept = meta.extra.keyword_label
        return (node.label if kept is None else kept), meta.extra.keyword_summary or ""

    def _apply(self, node: Node, answer: LabelAnswer, template: PromptTemplate, key: str, prompt_tokens: int, completion_tokens: int, calls: int) -> None:
        keyword_label, keyword_summary = self._keyword_fallback(node)
        extra = LabelProvenance(
            input=key, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, keyword_label=keyword_label,
            keyword_summary=keyword_summary or None, attempts=calls if calls > 1 else None,
        )
        node.label, node.summary = answer.label, answer.summary
        node.label_meta = LabelMeta(
            labeler="llm", model=self.config.model, prompt=template.id, prompt_hash=template.hash, created_at=self._now(), status="ok", extra=extra,
        )
        self._touched.add(node.id)

    def _fail(self, node: Node, template: PromptTemplate, error: str) -> None:
        """Record the failure; keep an earlier LLM label if the node had one, else the keyword label."""
        meta = node.label_meta
        if meta.labeler == "llm" and meta.extra.reused_from is None:
            extra = meta.extra.copy()
            extra.failed_prompt, extra.failed_model, extra.failed_at = template.id, self.config.model, self._now()
            node.label_meta = replace(meta, status="failed", error=error[:500], extra=extra)
            self._touched.add(node.id)
            return
        keyword_label, keyword_summary = self._keyword_fallback(node)
        node.label, node.summary = keyword_label, keyword_summary
        node.label_meta = LabelMeta(
            labeler="keywords", model=self.config.model, prompt=template.id, prompt_hash=template.hash, created_at=self._now(),
            status="failed", error=error[:500], extra=LabelProvenance(keyword_label=keyword_label, keyword_summary=keyword_summary or None),
        )
        self._touched.add(node.id)

    def _reuse(self, node: Node, child: Node) -> None:
        """A node whose only child holds the same documents says the same thing: no call."""
        keyword_label, keyword_summary = self._keyword_fallback(node)
        node.label, node.summary = child.label, child.summary
        extra = LabelProvenance(reused_from=child.id, keyword_label=keyword_label, keyword_summary=keyword_summary or None)
        node.label_meta = replace(child.label_meta, extra=extra)
        self.report.reused += 1
        if child.id in self._unknown:
            self._unknown.add(node.id)
        self._touched.add(node.id)

    # -- sibling distinctness ---------------------------------------------------------------
    async def _make_distinct(self, parent: Node, children: list[Node]) -> None:
        if any(c.id in self._unknown for c in children):
            self.report.sibling_groups_unknown += 1  # their new labels may or may not collide
            return
        groups: dict[str, list[Node]] = {}
        for child in children:
            groups.setdefault(normalise(child.label), []).append(child)
        clashes = [g for g in groups.values() if len(g) > 1]
        if not clashes:
            return
        rename: list[str] = []
        for group in clashes:
            touched = [c.id for c in group if c.id in self._touched]
            rename.extend(touched or [c.id for c in group])
        template = self.options.prompts.distinct
        rendered = self._prompts.distinct(template, parent, children, rename)
        key = self._key(template, rendered.messages)
        fixed = {c.id: c.label for c in children if c.id not in rename}
        new_labels: dict[str, str] | None = None

        def validate(text: str, shown: Rendered) -> dict[str, str]:
            return validate_distinct_answer(text, self.options.rules, shown.messages[0]["content"], rename, fixed)

        hit = None if self.options.refresh and self._is_target(parent.id) else self._from_cache(key, parent.id, _distinct_text, validate, rendered, None)
        if hit is not None:
            self.report.cache_hits += 1
            new_labels = hit[0]
        else:
            outcome = await self.answers.ask(rendered, validate, None)
            self.report.sibling_calls += outcome.calls
            if not outcome.known:
                return
            if isinstance(outcome.value, dict):
                new_labels = outcome.value
                self.cache.put(key, CachedAnswer({"labels": new_labels}, outcome.prompt_tokens, outcome.completion_tokens))
        by_id = {c.id: c for c in children}
        for node_id, label in (new_labels or {}).items():
            if node_id in by_id and node_id in rename:
                self._rename(by_id[node_id], label, template.id)
        self._force_distinct(children, rename)

    def _rename(self, node: Node, label: str, prompt_id: str) -> None:
        if label == node.label:
            return
        extra = node.label_meta.extra.copy()
        extra.renamed_from, extra.distinct_prompt = node.label, prompt_id
        node.label_meta.extra = extra
        node.label = label
        self.report.renamed += 1

    def _force_distinct(self, children: list[Node], rename: list[str]) -> None:
        """Last resort (the model failed): add a keyword or a number so no two siblings share a label."""
        taken: dict[str, str] = {}
        order = [c for c in children if c.id not in rename] + [c for c in children if c.id in rename]
        for child in order:
            if normalise(child.label) not in taken:
                taken[normalise(child.label)] = child.id
                continue
            label = self._keyword_variant(child, taken, len(children))
            self._rename(child, label, "fallback")
            taken[normalise(label)] = child.id

    def _keyword_variant(self, node: Node, taken: Collection[str], siblings: int) -> str:
        """The node's label with one of its keywords (else a number) appended, normalised unlike any in ``taken``."""
        base = node.label[: self.options.rules.label_max_chars - 16].rstrip()
        candidates = [f"{base} ({k.title()})" for k in node.keywords if len(k) <= 12 and k.casefold() not in base.casefold()]
        candidates += [f"{base} ({i})" for i in range(2, siblings + 3)]
        return next(c for c in candidates if normalise(c) not in taken)

class _AskAgain(Exception):
    """A cached answer that breaks a soft rule it was never tried against."""


def _distinct_text(answer: dict[str, Any]) -> str:
    """A stored sibling pass ``{"labels": {id: label}}`` as the model's answer format, for re-validation."""
    labels = answer.get("labels")
    if not isinstance(labels, dict):
        raise InvalidAnswer('the stored answer has no "labels" object')
    return json.dumps({"labels": [{"id": node_id, "label": label} for node_id, label in labels.items()]})


def _first(group: BaseExceptionGroup) -> BaseException:
    """The first real error in a (possibly nested) exception group, preferring fatal LLM errors."""
    flat: list[BaseException] = []

    def walk(g: BaseExceptionGroup) -> None:
        for exc in g.exceptions:
            walk(exc) if isinstance(exc, BaseExceptionGroup) else flat.append(exc)

    walk(group)
    for exc in flat:
        if isinstance(exc, LLMError) and exc.fatal:
            return exc
    for exc in flat:
        if not isinstance(exc, asyncio.CancelledError):
            return exc
    return flat[0]


# -- entry points --------------------------------------------------------------------------
def label_tree(
    tree: TopicTree,
    config: LLMConfig,
    options: LabelOptions,
    cache: AnswerCache,
    checkpoint: Callable[[], None] | None = None,
    progress: Callable[[RunReport], None] | None = None,
) -> RunReport:
    """Label ``tree`` in place. A fatal error (server gone, bad key) ends the run early with
    ``report.aborted`` set; every label finished before it is in the tree and the cache."""

    async def go() -> RunReport:
        report = start_report(config, options)
        async with ChatClient(config) as client:
            return await TreeLabeler(tree, config, options, cache, Asker(client, options, report), report, checkpoint, progress).run()

    return run_to_end(go)


def estimate_run(tree: TopicTree, config: LLMConfig, options: LabelOptions, cache: AnswerCache) -> RunReport:
    """A dry run: how many calls and roughly how many tokens a run would spend. Sends nothing, changes nothing."""
    report = start_report(config, options, dry_run=True)
    return run_to_end(lambda: TreeLabeler(label_copy(tree), config, options, cache, Estimate(report), report).run())


def run_to_end(make: Callable[[], Coroutine[Any, Any, RunReport]]) -> RunReport:
    """``asyncio.run(make())``, also when this thread already runs an event loop (a Jupyter cell, where
    asyncio.run refuses): then the run gets its own loop on a worker thread and this call waits for it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="topicmap-label") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def select_nodes(
    tree: TopicTree, specs: list[str] | None, only_missing: bool = False, only_failed: bool = False, only_stale: bool = False
) -> frozenset[str]:
    """Node ids from ``--nodes`` (``0.3,1`` ids; ``0.3*`` a subtree), filtered by missing/failed/stale labels."""
    chosen: list[str] = []
    for spec in specs or []:
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            subtree = part.endswith("*")
            # 'ID*' (or 'ID.*') is ID's subtree and a bare '*' the whole tree; the root itself is 'root'
            node_id = (part[:-1].rstrip(".") or ROOT_ID) if subtree else part
            if node_id not in tree:
                some = [n.id for n in itertools.islice(tree.iter_nodes(), 6)]
                raise TopicmapError(
                    f"--nodes: no node {part!r} in the tree; ids are {', '.join(some)}{' ...' if len(tree) > len(some) else ''} "
                    "('topicmap info' lists them), 'ID*' selects a subtree and '*' all nodes"
                )
            chosen.extend(n.id for n in tree.subtree(node_id)) if subtree else chosen.append(node_id)
    ids = set(chosen) if specs else {n.id for n in tree.iter_nodes()}
    if only_missing or only_failed or only_stale:
        from topicmap.hierarchy.builder.assign import is_stale

        ids = {
            i
            for i in ids
            if (only_missing and tree.node(i).label_meta.labeler != "llm")
            or (only_failed and tree.node(i).label_meta.status == "failed")
            or (only_stale and is_stale(tree.node(i)))
        }
    return frozenset(ids)
