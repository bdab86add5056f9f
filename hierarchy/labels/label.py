"""The prompt layer: label every node bottom-up through an LLM, validated, cached, resumable.

Leaves are labelled from their documents, parents from their children's labels, each node as soon as
the children it needs are done (one asyncio task per node, the HTTP concurrency bounded by the
client). Before a parent is labelled, its children's labels are made distinct. A node whose label
inputs are unchanged since the last run keeps its label; an answer seen before comes from the cache;
so re-running on an unchanged tree makes no requests. Failures never lose the tree: the node keeps its
previous label (an earlier LLM label if it had one, else its keyword label) and records why. Each retry
sends something new: every rejection so far, stated with its numbers, at a higher temperature.
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
from topicmap.hierarchy.labels.context import LabelRules, PromptBudget, PromptBuilder, Rendered
from topicmap.hierarchy.labels.fidelity import CloserToSibling, FidelityCheck
from topicmap.hierarchy.labels.validate import (
    ContrastLeak,
    InvalidAnswer,
    LabelAnswer,
    SoftViolation,
    TooNarrow,
    check_parent_label,
    normalize,
    parse_object,
    too_narrow,
    validate_distinct_answer,
    validate_label_answer,
)
from topicmap.hierarchy.llm.client import ChatClient, ChatResult, LLMConfig, LLMError
from topicmap.hierarchy.llm.cache import AnswerCache, CachedAnswer, cache_key
from topicmap.hierarchy.llm.prompting import PromptSet, PromptTemplate
from topicmap.hierarchy.tree.provenance import LabelProvenance
from topicmap.hierarchy.tree.topic_tree import ROOT_ID, LabelMeta, Node, TopicTree

EST_COMPLETION_TOKENS = 60  # a label + one-sentence summary as JSON, for estimates
RETRY_TEMPERATURE_STEP = 0.4  # added per retry: at temperature 0 a small model repeats its rejected answer
MAX_RETRY_TEMPERATURE = 1.0
FEEDBACK_ANSWER_CHARS = 600  # of each rejected answer shown back to the model
KEPT_DESPITE = "kept_despite"  # in a cached answer: the soft rule it broke when kept as the best of its tries
NAME_RULES = (CloserToSibling, TooNarrow)  # rules about the name alone: a list of other names can satisfy them


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


def affected(tree: TopicTree, targets: frozenset[str] | None, with_ancestors: bool = True) -> set[str]:
    """Targets plus (``with_ancestors``) every ancestor, whose label inputs may change with them."""
    if targets is None:
        return {n.id for n in tree.iter_nodes()}
    if not with_ancestors:
        return set(targets)
    out: set[str] = set()
    for node_id in targets:
        out.update(n.id for n in tree.path(node_id))
    return out


class TreeLabeler:
    """One run over one tree. ``client=None`` is a dry run: it counts what it would ask, on a copy."""

    def __init__(
        self,
        tree: TopicTree,
        config: LLMConfig,
        options: LabelOptions,
        cache: AnswerCache,
        client: ChatClient | None = None,
        checkpoint: Callable[[], None] | None = None,
        progress: Callable[[RunReport], None] | None = None,
    ) -> None:
        self.dry_run = client is None
        self.tree = _label_copy(tree) if self.dry_run else tree
        self.config = config
        self.options = options
        self.cache = cache
        self.client = client
        self.checkpoint = checkpoint
        self.progress = progress
        self.report = RunReport(config.model, [options.prompts.leaf.id, options.prompts.parent.id, options.prompts.distinct.id], self.dry_run)
        self.report.fidelity = f"checked with {options.fidelity.embedder}" if options.fidelity is not None else "not checked"
        self._params = {"temperature": config.temperature, "max_tokens": config.max_tokens}
        self._prompts = PromptBuilder(self.tree, options.budget, options.rules)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._touched: set[str] = set()  # nodes labelled in this run (may be renamed by the sibling pass)
        self._pending: set[str] = set()  # dry run: nodes whose label would come from a request
        self._dirty = False

    # -- the run ----------------------------------------------------------------------------
    async def run(self) -> RunReport:
        started = time.perf_counter()
        todo = affected(self.tree, self.options.targets, self.options.with_ancestors)
        order = [n.id for n in self.tree.iter_bottom_up() if n.id in todo]
        self.report.planned = len(order)
        self._preflight()
        saver = asyncio.create_task(self._checkpoint_loop()) if self.checkpoint and not self.dry_run else None
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
            if self.checkpoint is not None and not self.dry_run:
                self.checkpoint()
            if self.client is not None:
                self.report.requests = self.client.stats.requests
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
        children_pending = any(c.id in self._pending for c in self.tree.children(node.id))
        if not (target and self.options.refresh) and not children_pending:
            hit = self._from_cache(key, node.id, json.dumps, validate, rendered, fallback)
            if hit is not None:
                answer, cached, warning = hit
                self.report.cache_hits += 1
                self._apply(node, answer, template, key, cached.prompt_tokens, cached.completion_tokens, 0)
                if warning:
                    node.label_meta.extra.warning = warning[:300]
                await self._rename_child_apart(node, template, cached)
                return
        if self.dry_run:
            self._pending.add(node.id)
            self.report.label_calls += 1
            self._count_estimate(rendered)
            return
        outcome = await self._ask(rendered, validate, fallback)
        self.report.label_calls += outcome.calls
        if isinstance(outcome.value, LabelAnswer):
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
        if twin is None or self.dry_run:
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

            outcome = await self._ask(rendered, validate, None)
            self.report.sibling_calls += outcome.calls
            if isinstance(outcome.value, dict):
                new_label = outcome.value[twin.id]
                self.cache.put(key, CachedAnswer({"labels": outcome.value}, outcome.prompt_tokens, outcome.completion_tokens))
        shown = self._prompts.leaf(self.options.prompts.leaf, twin).documents if self.tree.is_leaf(twin.id) else ()
        if new_label is not None and too_narrow(new_label, shown):
            new_label = None  # renamed after one team of a football leaf: a keyword says more
        taken = {normalize(v) for v in fixed.values()}
        if new_label is None or normalize(new_label) in taken:
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

    async def _ask(
        self,
        rendered: Rendered,
        validate: Callable[[str, Rendered], Any],
        fallback: Callable[[], Rendered] | None,
    ) -> _Outcome:
        """Ask, validate, and on an invalid answer ask again: no two tries send the same request.

        Each retry shows every rejected answer so far with the reason it was rejected (the exact rule and
        numbers), and raises the temperature by ``RETRY_TEMPERATURE_STEP``: a small model at temperature
        0 otherwise answers a repeated question with the same rejected answer.
        """
        assert self.client is not None
        outcome = _Outcome()
        shown = rendered
        messages = list(rendered.messages)
        rejected: list[tuple[str, str]] = []  # (answer, why)
        best_soft: SoftViolation | None = None
        for attempt in range(self.options.max_attempts):
            try:
                result = await self.client.complete(messages, temperature=self._retry_temperature(attempt))
            except LLMError as exc:
                if exc.fatal:  # including many failures in a row (the client counts them): the server is down
                    raise
                outcome.error = str(exc)
                return outcome
            self._count_answer(result, outcome)
            try:
                outcome.value = validate(result.text, shown)
                return outcome
            except InvalidAnswer as exc:
                if isinstance(exc, SoftViolation) and (best_soft is None or exc.rank >= best_soft.rank):
                    best_soft = exc
                if attempt == self.options.max_attempts - 1 and best_soft is not None:
                    rejected.append((result.text, str(exc)))
                    if isinstance(best_soft, NAME_RULES) and self.options.candidates > 0:
                        best_soft = await self._pick_candidate(shown, validate, rejected, best_soft, outcome)
                    if not isinstance(best_soft, SoftViolation):
                        outcome.value = best_soft
                        return outcome
                    outcome.value, outcome.warning, outcome.soft = best_soft.answer, str(best_soft), best_soft  # a narrow name beats no name
                    return outcome
                outcome.error = f"invalid answer after {outcome.calls} tries: {exc}"
                if isinstance(exc, ContrastLeak) and fallback is not None:
                    shown = fallback()  # the model could not keep the neighbours apart: stop showing them
                rejected.append((result.text, str(exc)))
                messages = [*shown.messages, *_feedback(rejected)]
        return outcome

    async def _pick_candidate(
        self,
        shown: Rendered,
        validate: Callable[[str, Rendered], Any],
        rejected: list[tuple[str, str]],
        best: SoftViolation,
        outcome: _Outcome,
    ) -> Any:
        """Every try broke a rule about the name: ask once for several names and keep the first that passes.

        A small model that keeps giving one rejected name can still list better ones; choosing among
        them is cheaper and surer than more single tries. The summary of the best try is kept. Returns
        the accepted answer, or the best-ranked rule break among the tries and the candidates.
        """
        assert self.client is not None
        messages = [*shown.messages, *_feedback(rejected), _candidates_request(self.options.candidates)]
        try:
            result = await self.client.complete(messages, temperature=self._retry_temperature(len(rejected)))
        except LLMError as exc:
            if exc.fatal:
                raise
            return best
        self._count_answer(result, outcome)
        self.report.candidate_calls += 1
        for name in _candidate_names(result.text)[: self.options.candidates]:
            try:
                answer = validate(json.dumps({"label": name, "summary": best.answer.summary}), shown)
            except SoftViolation as exc:
                if exc.rank > best.rank:
                    best = exc
                continue
            except InvalidAnswer:
                continue
            self.report.from_candidates += 1
            outcome.from_candidates = True
            return answer
        return best

    def _count_answer(self, result: ChatResult, outcome: _Outcome) -> None:
        outcome.calls += 1
        outcome.prompt_tokens += result.prompt_tokens
        outcome.completion_tokens += result.completion_tokens
        self.report.calls += 1
        self.report.prompt_tokens += result.prompt_tokens
        self.report.completion_tokens += result.completion_tokens
        self.report.call_prompt_tokens.append(result.prompt_tokens)

    def _retry_temperature(self, attempt: int) -> float | None:
        """None (the configured temperature) for the first try, then a little warmer each time."""
        if attempt == 0:
            return None
        base = self.config.temperature
        return round(min(MAX_RETRY_TEMPERATURE, max(base, base + RETRY_TEMPERATURE_STEP * attempt)), 3)

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
        if child.id in self._pending:
            self._pending.add(node.id)
        self._touched.add(node.id)

    # -- sibling distinctness ---------------------------------------------------------------
    async def _make_distinct(self, parent: Node, children: list[Node]) -> None:
        if any(c.id in self._pending for c in children):
            self.report.sibling_groups_unknown += 1  # dry run: the new labels may or may not collide
            return
        groups: dict[str, list[Node]] = {}
        for child in children:
            groups.setdefault(normalize(child.label), []).append(child)
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
        elif self.dry_run:
            self.report.sibling_calls += 1
            self._count_estimate(rendered)
            return
        else:
            outcome = await self._ask(rendered, validate, None)
            self.report.sibling_calls += outcome.calls
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
            if normalize(child.label) not in taken:
                taken[normalize(child.label)] = child.id
                continue
            label = self._keyword_variant(child, taken, len(children))
            self._rename(child, label, "fallback")
            taken[normalize(label)] = child.id

    def _keyword_variant(self, node: Node, taken: Collection[str], siblings: int) -> str:
        """The node's label with one of its keywords (else a number) appended, normalised unlike any in ``taken``."""
        base = node.label[: self.options.rules.label_max_chars - 16].rstrip()
        candidates = [f"{base} ({k.title()})" for k in node.keywords if len(k) <= 12 and k.casefold() not in base.casefold()]
        candidates += [f"{base} ({i})" for i in range(2, siblings + 3)]
        return next(c for c in candidates if normalize(c) not in taken)

    def _count_estimate(self, rendered: Rendered) -> None:
        tokens = rendered.tokens
        self.report.calls += 1
        self.report.prompt_tokens += tokens
        self.report.completion_tokens += EST_COMPLETION_TOKENS
        self.report.call_prompt_tokens.append(tokens)


def _feedback(rejected: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The rejected answers, each followed by why, then a request naming every rule broken so far."""
    messages: list[dict[str, str]] = []
    for number, (answer, why) in enumerate(rejected, start=1):
        messages.append({"role": "assistant", "content": answer[:FEEDBACK_ANSWER_CHARS]})
        if number < len(rejected):
            messages.append({"role": "user", "content": f"That answer was not accepted: {why}."})
    reasons = "; ".join(f"({i}) {why}" for i, (_, why) in enumerate(rejected, start=1)) if len(rejected) > 1 else rejected[-1][1]
    messages.append(
        {
            "role": "user",
            "content": f"That answer was not accepted: {rejected[-1][1]}. "
            + (f"All the problems so far: {reasons}. " if len(rejected) > 1 else "")
            + "Write a different answer that fixes this. Answer with only the JSON object, following the rules.",
        }
    )
    return messages


def _candidates_request(count: int) -> dict[str, str]:
    """The last request for a node whose every name broke a rule about names: several names to choose from."""
    return {
        "role": "user",
        "content": f"Instead of one answer, list {count} different candidate names for these documents, each following the rules "
        "and avoiding the problems above, the most fitting first. Answer with only a JSON object in this form: "
        '{"labels": ["<name 1>", "<name 2>"]}',
    }


def _candidate_names(text: str) -> list[str]:
    """The names in a candidates answer; an unusable answer gives none (the best earlier try is then kept)."""
    try:
        data = parse_object(text)
    except InvalidAnswer:
        return []
    names = data.get("labels")
    if not isinstance(names, list):
        return []
    return [n.strip() for n in names if isinstance(n, str) and n.strip()]


class _AskAgain(Exception):
    """A cached answer that breaks a soft rule it was never tried against."""


@dataclass
class _Outcome:
    value: Any = None
    error: str = ""
    warning: str = ""  # accepted on the last try despite a soft rule
    soft: SoftViolation | None = None  # the rule it broke
    from_candidates: bool = False  # the name was picked from a list asked for after every try broke a rule
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _distinct_text(answer: dict[str, Any]) -> str:
    """A stored sibling pass ``{"labels": {id: label}}`` as the model's answer format, for re-validation."""
    labels = answer.get("labels")
    if not isinstance(labels, dict):
        raise InvalidAnswer('the stored answer has no "labels" object')
    return json.dumps({"labels": [{"id": node_id, "label": label} for node_id, label in labels.items()]})


def _label_copy(tree: TopicTree) -> TopicTree:
    """A tree whose labels a dry run may change; documents and vectors are shared, not copied."""
    nodes = [replace(n, label_meta=replace(n.label_meta, extra=n.label_meta.extra.copy())) for n in tree.iter_nodes()]
    return TopicTree(nodes, tree.documents, tree.manifest)


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
        async with ChatClient(config) as client:
            return await TreeLabeler(tree, config, options, cache, client, checkpoint, progress).run()

    return run_to_end(go)


def estimate_run(tree: TopicTree, config: LLMConfig, options: LabelOptions, cache: AnswerCache) -> RunReport:
    """A dry run: how many calls and roughly how many tokens a run would spend. Sends nothing."""
    return run_to_end(lambda: TreeLabeler(tree, config, options, cache).run())


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
