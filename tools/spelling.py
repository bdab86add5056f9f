"""One spelling for each word in Python names: normalise, centre, labeler (issue 13).

The code had both normalise/normalize, centre/center and labeller/labeler in its names. Names take
the spelling the code used most: ``normalise`` and ``centre`` (British, as the prose), and ``labeler``
(the tree file's key ``label_meta.labeler``, which is part of the format and stays, as do CLI flags
and every other string). ``RENAMES`` lists our own names that differed; names of other libraries
(``normalized_mutual_info_score``, ``normalize_embeddings=``, plotly's ``"center"``) are not ours and
are not touched.

Only NAME tokens, comments and names cited in docstrings as ````name```` change (read with
:mod:`tokenize`), never other strings, so file keys, messages and plotly settings stay as they are. Idempotent: after merging a branch written with the
old names, run ``python tools/spelling.py rewrite`` again; ``python tools/spelling.py check`` lists
what is left (exit status 1 if anything).
"""

from __future__ import annotations

import io
import re
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("hierarchy", "viz", "topicmap", "bench", "tools", "tests")

RENAMES: dict[str, str] = {
    # centre
    "center": "centre",
    "centers": "centres",
    "node_centers": "node_centres",
    "raw_centers": "raw_centres",
    "center_norm": "centre_norm",
    "center_norms": "centre_norms",
    # normalise
    "normalize": "normalise",
    # labeler
    "_labeller_counts": "_labeler_counts",
    "test_llm_navigator_over_http_with_the_labellers_client": "test_llm_navigator_over_http_with_the_labelers_client",
}
_IN_COMMENT = re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(RENAMES, key=len, reverse=True)) + r")\b")
_QUOTED = re.compile(r"``(" + "|".join(re.escape(k) for k in sorted(RENAMES, key=len, reverse=True)) + r")``")  # a name cited in a docstring


def rewritten(text: str) -> str:
    """``text`` (Python source) with every listed NAME token, and the listed names in comments, renamed."""
    lines = io.StringIO(text).readlines()  # split where tokenize counts lines (\n only)
    edits: list[tuple[tuple[int, int], tuple[int, int], str]] = []  # (start, end as (line, column), new text)
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.NAME and token.string in RENAMES:
            edits.append((token.start, token.end, RENAMES[token.string]))
        elif token.type == tokenize.COMMENT and _IN_COMMENT.search(token.string):
            edits.append((token.start, token.end, _IN_COMMENT.sub(lambda m: RENAMES[m.group(1)], token.string)))
        elif token.type == tokenize.STRING and _QUOTED.search(token.string):  # may span lines: edited as one block
            edits.append((token.start, token.end, _QUOTED.sub(lambda m: f"``{RENAMES[m.group(1)]}``", token.string)))
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    for start, end, new in sorted(edits, reverse=True):  # right to left, so earlier positions stay valid
        a, b = offsets[start[0] - 1] + start[1], offsets[end[0] - 1] + end[1]
        text = text[:a] + new + text[b:]
    return text


def python_files() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py") if p.resolve() != Path(__file__).resolve())


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command not in ("check", "rewrite"):
        print("usage: python tools/spelling.py check|rewrite [FILE ...]", file=sys.stderr)
        return 2
    paths = [Path(a) for a in argv[1:]] or python_files()
    changed = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        new = rewritten(text)
        if new != text:
            changed.append(path)
            if command == "rewrite":
                path.write_text(new, encoding="utf-8")
    verb = "rewrote" if command == "rewrite" else "old spelling in"
    for path in changed:
        print(f"{verb} {path.relative_to(ROOT) if path.is_absolute() else path}")
    return 1 if changed and command == "check" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
