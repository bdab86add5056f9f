"""Plain-text views of evaluation reports: one tree (``evaluate``) and two side by side (``compare``).

Both work on the report's JSON form (``EvaluationReport.to_dict()``), so a saved ``--json`` report
renders the same way as a fresh one.
"""

from __future__ import annotations

import math
from typing import Any

BROWSABLE_DEPTH = 3  # the browse preset's shape at most; deeper trees get a hint under the navigation scores


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _standard_error_points(rate: float, n: int) -> str:
    """Sampling error of a rate measured on n targets, in percentage points: how far another seed may land."""
    return f"{100 * math.sqrt(max(rate * (1 - rate), 0.0) / max(n, 1)):.1f}"


def render_report(report: dict[str, Any]) -> str:
    lines = [
        f"{report['tree']}: {report['documents']:,} documents · {report['nodes']:,} nodes · {report['leaves']:,} leaves · "
        f"depth {report['depth']} · embedder {report['embedder']}",
        "labels: " + ", ".join(f"{count} by {kind}" for kind, count in sorted(report["labels"].items())),
        "",
        "shape",
        "  level  nodes  leaves  children/parent (min-max)  size median (min-max)",
    ]
    for lv in report["shape"]:
        lines.append(
            f"  {lv['depth']:>5}  {lv['nodes']:>5}  {lv['leaves']:>6}  {lv['branching_mean']:>15.1f} ({lv['branching_min']}-{lv['branching_max']})"
            f"{'':>6}{lv['size_median']:>6g} ({lv['size_min']}-{lv['size_max']})"
        )
    ls = report["leaf_sizes"]
    lines.append(
        f"leaf sizes: min {ls['min']} · p10 {ls['p10']:g} · median {ls['median']:g} · p90 {ls['p90']:g} · max {ls['max']} · "
        f"cv {ls['cv']:.2f}; singleton nodes {ls['singletons']}, tiny nodes (<{ls['tiny_threshold']} docs) {ls['tiny']}"
    )
    lines += ["", "cohesion and separation (cosine, on a sample of documents)"]
    cohesion = report["cohesion"]
    if isinstance(cohesion, dict):
        lines.append(f"  skipped: {cohesion['skipped']}")
    else:
        lines.append("  level  clusters  silhouette  cohesion  separation")
        for lv in cohesion:
            lines.append(f"  {lv['depth']:>5}  {lv['clusters']:>8}  {_num(lv['silhouette']):>10}  {_num(lv['cohesion']):>8}  {_num(lv['separation']):>10}")
    dist = report["distinctness"]
    lines += [
        "",
        f"sibling labels: {dist['sibling_pairs']} pairs, {dist['duplicates']} duplicate, {dist['near_duplicates']} near-duplicate "
        f"({_pct(dist['distinct_share'])} distinct)",
    ]
    for ex in dist["examples"][:5]:
        lines.append(f"  {ex['kind']}: {ex['a']} {ex['label_a']!r} ~ {ex['b']} {ex['label_b']!r} ({ex['similarity']:.2f})")
    fid = report["fidelity"]
    if "skipped" in fid:
        lines.append(f"label fidelity: skipped: {fid['skipped']}")
    else:
        per_level = ", ".join(f"level {lv['depth']} {_pct(lv['rate'])}" for lv in fid["levels"])
        lines.append(
            f"label fidelity: {fid['faithful']} of {fid['nodes']} labels closer to their own documents than to any sibling's "
            f"({_pct(fid['rate'])}; mean margin {fid['mean_margin']:+.3f}); {per_level}"
        )
        for miss in fid["misses"][:5]:
            lines.append(f"  miss: {miss['node']} {miss['label']!r}: own {miss['own']:.3f} < sibling {miss['best_sibling']} {miss['sibling']:.3f}")
    if report["references"]:
        lines += ["", "against reference categories", "  reference      classes  dendrogram purity  best level (nodes)  NMI    ARI    mixed nodes"]
        for ref in report["references"]:
            lines.append(
                f"  {ref['name']:<14} {ref['categories']:>7}  {ref['dendrogram_purity']:>17.3f}  {ref['best_depth']:>10} ({ref['best_clusters']:>4})"
                f"   {ref['nmi']:.3f}  {ref['ari']:.3f}  {ref['mixed_nodes']} (<{ref['mix_threshold']:.0%} one class)"
            )
    if report["navigation"]:
        lines += ["", "navigation (find a document from its title + first 300 characters, reading labels top-down)"]
        for nav in report["navigation"]:
            per_level = ", ".join(f"L{lv['depth']} {_pct(lv['accuracy'])}" for lv in nav["levels"])
            lines.append(
                f"  {nav['navigator']} on {nav['labels']} labels, {nav['sample']} documents (seed {nav['seed']}): exact leaf {_pct(nav['exact_leaf_accuracy'])} "
                f"(± {_standard_error_points(nav['exact_leaf_accuracy'], nav['sample'])} points, 1 s.e.), "
                f"node match {_pct(nav['node_match'])}; {per_level}"
            )
            if nav.get("positions"):
                total = max(1, sum(nav["positions"]))
                picked = ", ".join(
                    f"{i + 1}: {c / total:.0%} (unbiased {e / total:.0%})" for i, (c, e) in enumerate(zip(nav["positions"], nav["expected_positions"]))
                )
                lines.append(f"    candidates shown in a seeded random order; answers by shown position: {picked}")
            if nav.get("cache_hits"):
                lines.append(f"    {nav['cache_hits']} answers from the cache")
            if nav["invalid_answers"]:
                lines.append(f"    {nav['invalid_answers']} answers named no candidate (counted as misses), e.g. {nav['invalid_examples'][0]!r}")
        if report["depth"] > BROWSABLE_DEPTH:
            lines.append(
                f"  note: every level is one more choice to get right; --preset browse "
                f"(at most {BROWSABLE_DEPTH} levels of a few topics) is made to be navigated"
            )
    return "\n".join(lines)


def headline(report: dict[str, Any]) -> list[tuple[str, Any]]:
    """The numbers worth comparing, flattened to (name, value)."""
    rows: list[tuple[str, Any]] = [
        ("documents", report["documents"]),
        ("nodes", report["nodes"]),
        ("leaves", report["leaves"]),
        ("depth", report["depth"]),
        ("labels", ", ".join(f"{k} {v}" for k, v in sorted(report["labels"].items()))),
    ]
    for lv in report["shape"]:
        rows.append((f"level {lv['depth']} nodes (children/parent)", f"{lv['nodes']} ({lv['branching_mean']:.1f})"))
    ls = report["leaf_sizes"]
    rows += [("leaf size median (p10-p90)", f"{ls['median']:g} ({ls['p10']:g}-{ls['p90']:g})"), ("leaf size cv", ls["cv"]), ("tiny nodes", ls["tiny"]), ("singleton nodes", ls["singletons"])]
    if isinstance(report["cohesion"], list):
        for lv in report["cohesion"]:
            rows.append((f"silhouette level {lv['depth']}", lv["silhouette"]))
    dist = report["distinctness"]
    rows += [("duplicate sibling labels", dist["duplicates"]), ("near-duplicate sibling labels", dist["near_duplicates"])]
    fid = report["fidelity"]
    rows.append(("label fidelity", fid.get("rate", "skipped")))
    for ref in report["references"]:
        rows += [
            (f"{ref['name']}: dendrogram purity", ref["dendrogram_purity"]),
            (f"{ref['name']}: NMI (best level)", ref["nmi"]),
            (f"{ref['name']}: ARI (best level)", ref["ari"]),
            (f"{ref['name']}: mixed nodes", ref["mixed_nodes"]),
        ]
    for nav in report["navigation"]:
        rows += [(f"navigation {nav['navigator']}: exact leaf", nav["exact_leaf_accuracy"]), (f"navigation {nav['navigator']}: node match", nav["node_match"])]
    return rows


def render_comparison(a: dict[str, Any], b: dict[str, Any]) -> str:
    left, right = dict(headline(a)), dict(headline(b))
    names = list(left) + [k for k in right if k not in left]
    width = max(len(n) for n in names)
    lines = [f"A: {a['tree']}", f"B: {b['tree']}", "", f"{'':<{width}}  {'A':>14}  {'B':>14}  {'B - A':>8}"]
    for name in names:
        va, vb = left.get(name, "-"), right.get(name, "-")
        diff = ""
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and not isinstance(va, bool):
            delta = vb - va
            diff = f"{delta:+.3f}" if isinstance(delta, float) else f"{delta:+d}"
        lines.append(f"{name:<{width}}  {_cell(va):>14}  {_cell(vb):>14}  {diff:>8}")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
