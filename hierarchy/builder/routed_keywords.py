"""Every node's keyword list chosen, per group of siblings, for how many of their documents it routes home.

A reader descending the tree compares a document with each child's text and takes the closest; a
child's words are good when the siblings' documents land on their own child. Steering
(:func:`topicmap.hierarchy.builder.keywords.steer_keywords`) scores each candidate word alone against
the nearest sibling; here the words of a whole sibling group are chosen together, at every depth,
against that routing objective (:func:`topicmap.hierarchy.builder.leaf_keywords.group_score`).

Two stages, because the embedding of a joined list is not the mean of its words' embeddings:

1. *Proposal* (cheap, word vectors only): per group, each sibling in turn builds its list greedily
   from its c-TF-IDF candidate pool, a word at a time, taking the word under which the group's
   documents route best, the list's text stood in for by the sum of its words' vectors
   (:func:`greedy_lists`). It reads at most :data:`GREEDY_GROUP_POINTS` documents per group, shared
   among the siblings (:func:`within_budget`): its cost grows with siblings x documents, and wide
   groups of large nodes (tens of siblings from 100k documents up) would take minutes each.
2. *Choice* (the model, on the texts the navigator reads): each node's options are its steered list
   and its greedy list (until session 15 also shorter prefixes of both: on unseen documents they
   routed no better overall, for three and a half times the texts to embed; docs/design-history.md);
   every option's :func:`topicmap.hierarchy.tree.node_text.node_text` is embedded and
   :func:`topicmap.hierarchy.builder.leaf_keywords.choose_options` keeps, per group,
   the options that route the sampled documents best. Groups are settled deepest first, so a
   parent's options are embedded with its children's final words (a parent's text lists them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from topicmap.hierarchy.builder.keywords import NodeKeywords
from topicmap.hierarchy.builder.leaf_keywords import MARGIN_CLIP, MARGIN_WEIGHT, centred_unit, choose_options, with_words
from topicmap.hierarchy.tree.node_text import SUBTOPIC_KEYWORDS, node_text
from topicmap.hierarchy.tree.topic_tree import Node

GREEDY_PASSES = 2
TIE_WEIGHT = 1e-3  # unclipped mean margin: among words that leave every margin past the clip, the one that separates most
DOCS_PER_NODE = 300  # documents sampled per node: a parent's choice is judged on more than a leaf's 40-odd
GREEDY_GROUP_POINTS = 3000  # documents the proposal reads per group at most: its cost grows with siblings x documents


def greedy_lists(pools: Sequence[np.ndarray], starts: Sequence[Sequence[int]], docs: Sequence[np.ndarray], keep: int, passes: int = GREEDY_PASSES) -> list[list[int]]:
    """Per sibling, up to ``keep`` positions in its pool, best first, chosen for the group's routing.

    ``pools[j]`` are sibling j's candidate word vectors, ``starts[j]`` the positions of its current
    list (what its rivals are scored against until its turn), ``docs[j]`` its sampled documents;
    all centred and unit length. A list's text is stood in for by the unit sum of its words' vectors.
    Sibling j's turn: from an empty list, add the pool word that maximises the share of the group's
    documents whose own sibling's text is the most similar (plus a small clipped-margin term, as
    :func:`topicmap.hierarchy.builder.leaf_keywords.group_score`), the other siblings' texts held fixed.
    """
    m = len(pools)
    out = [list(s)[:keep] for s in starts]
    if m < 2 or not any(len(d) for d in docs):
        return out
    points = np.concatenate([d for d in docs if len(d)]).astype(np.float32)
    owners = np.concatenate([np.full(len(d), j) for j, d in enumerate(docs) if len(d)])
    rows = np.arange(owners.size)
    sims = [points @ p.T.astype(np.float32) if len(p) else np.zeros((owners.size, 0), np.float32) for p in pools]
    grams = [(p @ p.T).astype(np.float32) for p in pools]

    def text_cosines(j: int, chosen: Sequence[int]) -> np.ndarray:
        if not chosen:
            return np.full(owners.size, -1.0, np.float32)
        picked = list(chosen)
        return sims[j][:, picked].sum(axis=1) / np.sqrt(max(float(grams[j][np.ix_(picked, picked)].sum()), 1e-12))

    cosines = np.stack([text_cosines(j, out[j]) for j in range(m)], axis=1)
    for _ in range(passes):
        for j in range(m):
            if sims[j].shape[1] == 0:
                continue
            others = cosines.copy()
            others[:, j] = -np.inf
            own = others[rows, owners]  # for documents of other siblings: their own sibling's cosine
            rivals = others.copy()
            rivals[rows, owners] = -np.inf
            best_other = rivals.max(axis=1)  # ... and their best rival other than j
            mine = owners == j
            beaten = np.where(mine, others.max(axis=1), 0.0)  # for j's documents: the best sibling to beat
            chosen: list[int] = []
            total = np.zeros(owners.size, np.float32)
            squares = 0.0
            with_chosen = np.zeros(sims[j].shape[1], np.float32)  # Gram row sums over the chosen words
            diagonal = np.diag(grams[j])
            best_value, best_size, order = -np.inf, 0, []
            for _step in range(min(keep, sims[j].shape[1])):
                norms = np.sqrt(np.maximum(squares + 2.0 * with_chosen + diagonal, 1e-12))
                trial = (total[:, None] + sims[j]) / norms[None, :]
                margin = np.where(mine[:, None], trial - beaten[:, None], own[:, None] - np.maximum(best_other[:, None], trial))
                value = (margin > 0).mean(axis=0) + MARGIN_WEIGHT * np.clip(margin, -MARGIN_CLIP, MARGIN_CLIP).mean(axis=0) + TIE_WEIGHT * margin.mean(axis=0)
                value[chosen] = -np.inf
                word = int(np.argmax(value))
                chosen.append(word)
                order.append(float(value[word]))
                total += sims[j][:, word]
                squares += 2.0 * float(with_chosen[word]) + float(diagonal[word])
                with_chosen += grams[j][word]
                if order[-1] > best_value + 1e-9 and len(chosen) >= min(SUBTOPIC_KEYWORDS, keep):
                    best_value, best_size = order[-1], len(chosen)
            out[j] = chosen
            cosines[:, j] = text_cosines(j, chosen[: best_size or len(chosen)])
    return out


def within_budget(docs: Sequence[np.ndarray], budget: int) -> list[np.ndarray]:
    """``docs`` unchanged when their rows total at most ``budget``; else each thinned to a common quota.

    The quota is the largest count q with sum(min(len, q)) <= budget, so small siblings keep every
    document and only the large ones are thinned, to evenly spaced rows of their (already random) sample.
    """
    counts = np.array([len(d) for d in docs])
    if counts.sum() <= budget:
        return list(docs)
    lo, hi = 0, int(counts.max())
    while lo < hi:
        q = (lo + hi + 1) // 2
        if np.minimum(counts, q).sum() <= budget:
            lo = q
        else:
            hi = q - 1
    quota = max(lo, 1)
    return [d if len(d) <= quota else d[np.linspace(0, len(d) - 1, quota).round().astype(int)] for d in docs]


def fit_node_keywords(
    pool: dict[str, NodeKeywords],
    steered: dict[str, NodeKeywords],
    nodes: Sequence[Node],
    word_vectors: dict[str, np.ndarray],
    doc_vectors: Callable[[str], np.ndarray],
    embed_texts: Callable[[Sequence[str]], np.ndarray],
    mean: np.ndarray,
    keep: int,
) -> dict[str, NodeKeywords]:
    """``steered`` with every node's list replaced by the option that routes its group's documents best.

    ``pool`` holds each node's c-TF-IDF candidates (best first), ``steered`` today's lists (a subset
    of the pool), ``nodes`` the tree's nodes without the root, ``word_vectors`` the candidates'
    embeddings centred on ``mean`` and unit length, ``doc_vectors(node_id)`` a sample of the node's
    document vectors, ``embed_texts`` the model that made them.
    """
    def unit(vectors: np.ndarray) -> np.ndarray:
        return centred_unit(vectors, mean)

    groups: dict[str | None, list[Node]] = {}
    for node in nodes:
        groups.setdefault(node.parent, []).append(node)
    has_children = {str(n.parent) for n in nodes}
    out = dict(steered)
    scores = {node_id: dict(zip(k.words, k.scores)) for node_id, k in pool.items()}

    def keywords_of(node_id: str, words: list[str]) -> NodeKeywords:
        known = scores.get(node_id, {})
        return NodeKeywords(words, [known.get(w, 0.0) for w in words])

    for depth in sorted({n.depth for n in nodes}, reverse=True):
        level = [g for g in groups.values() if len(g) > 1 and g[0].depth == depth]
        plans: list[tuple[list[Node], list[list[list[str]]], list[np.ndarray]]] = []
        texts: list[str] = []
        for group in level:
            docs = [unit(doc_vectors(n.id)) for n in group]
            words = [[w for w in (pool[n.id].words if n.id in pool else []) if w in word_vectors] for n in group]
            current = [steered[n.id].words if n.id in steered else [] for n in group]
            starts = [[ws.index(w) for w in cur if w in ws] for ws, cur in zip(words, current)]
            pools = [np.stack([word_vectors[w] for w in ws]) if ws else np.zeros((0, mean.size)) for ws in words]
            greedy = greedy_lists(pools, starts, within_budget(docs, GREEDY_GROUP_POINTS), keep)
            options_per_node: list[list[list[str]]] = []
            for node, ws, cur, picked in zip(group, words, current, greedy):
                proposal = [ws[i] for i in picked]
                leaf = node.id not in has_children
                options = [cur] + ([proposal] if proposal and proposal != cur else [])
                options_per_node.append(options)
                subtopics = [] if leaf else [with_words(c, out[c.id].words if c.id in out else []) for c in groups.get(node.id, [])]
                texts += [node_text(with_words(node, o), True, subtopics) for o in options]
            plans.append((group, options_per_node, docs))
        if not texts:
            continue
        vectors = unit(embed_texts(texts))
        start = 0
        for group, options_per_node, docs in plans:
            option_vectors = []
            for options in options_per_node:
                option_vectors.append(vectors[start : start + len(options)])
                start += len(options)
            for node, options, pick in zip(group, options_per_node, choose_options(option_vectors, docs)):
                if pick and options[pick]:
                    out[node.id] = keywords_of(node.id, options[pick])
    return out
