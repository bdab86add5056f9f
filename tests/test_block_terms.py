"""Terms cut from a block of texts in one go are CountVectorizer's, text by text, on any input."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from topicmap.hierarchy.builder.block_terms import SEPARATOR, block_terms, vectorizer_settings
from topicmap.hierarchy.builder.term_counts import count_terms, node_counts, term_vocabulary

# pieces a text is made of: plain words, case, digits, underscores, hyphens, punctuation that is or is
# not "case-ignorable" (it matters to a final sigma), accents (composed and combining), other scripts,
# a title-case letter, the Kelvin sign (lowercases to ASCII k), dotted capital I (lowercases to two code
# points), the separator itself, stop words
PIECES = [
    "topic", "Topic", "TOPIC", "maps", "a", "ab", "x1", "1x", "abc_def", "_ab", "well-known", "co-op", "a-b", "ab-",
    "-ab", "ab--cd", "abc-def1", "e-mail-x", "2024", " ", "  ", "\n", "\t", ".", ",", "'", ":", "!", "?", "(", ")",
    "\u2019", "\u2014", "café", "cafe\u0301", "naïve", "ÉCOLE", "Σίσυφος", "ΑΣ", "ΑΣ.", "ΑΣ'Β", "ςσΣ", "İstanbul",
    "\u212a", "\u01c5ab", "東京", "данные", "Über", "straße", "STRASSE", "\U0001f600", SEPARATOR, "\x1c", "the",
    "and", "said", "people", "\u00a0", "\u2028", "ab\u200bcd",
    # data runs, or nearly: an address, a URL, not a URL, an uuencoded line, words of 40 and 41 letters, and 40
    # letters of other scripts (prose: data runs are ASCII only)
    "ab@cd.edu", "http://x.org/ab", "ab:/cd", "M" + "AX>'" * 15, "abcdefghij" * 4, "abcdefghij" * 4 + "x", "é" * 40, "中文" * 20,
]


def random_texts(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(PIECES) + rng.choice(["", " ", ""]) for _ in range(rng.randint(0, 12))) for _ in range(n)]


def reference(texts: list[str]) -> list[dict[str, int]]:
    """Per text, each term's count as CountVectorizer (the build's settings) gives it."""
    settings, _, _ = vectorizer_settings(2)
    analyze = CountVectorizer(**settings).build_analyzer()  # type: ignore[arg-type]
    out = []
    for text in texts:
        counts: dict[str, int] = {}
        for term in analyze(text):
            counts[term] = counts.get(term, 0) + 1
        out.append(counts)
    return out


def as_dicts(texts: list[str]) -> list[dict[str, int]]:
    terms = block_terms(texts)
    names = terms.terms.to_pylist()
    counts = terms.counts
    return [{names[j]: int(c) for j, c in zip(counts.indices[counts.indptr[i] : counts.indptr[i + 1]], counts.data[counts.indptr[i] : counts.indptr[i + 1]])} for i in range(len(texts))]


@pytest.mark.parametrize("seed", range(12))
def test_random_texts_give_countvectorizers_terms(seed: int) -> None:
    texts = random_texts(seed, 300)
    if seed % 3 == 0:  # no text holds the separator: the block is cut in one go
        texts = [t.replace(SEPARATOR, " ") for t in texts]
    assert as_dicts(texts) == reference(texts)


@pytest.mark.parametrize(
    "texts",
    [
        [],
        [""],
        ["", "", ""],
        ["the and of"],
        ["ΑΣ", "Β"],  # a capital sigma ending a text is final whatever the next text starts with
        ["Β", "ΣΑ"],
        ["ab\x00cd ef", "gh"],
        ["plain ascii words only", "and more words"],
    ],
)
def test_edge_blocks(texts: list[str]) -> None:
    assert as_dicts(texts) == reference(texts)


def test_frequencies_count_texts_and_occurrences() -> None:
    terms = block_terms(["maps maps topic", "maps", "atlas"])
    by_term = dict(zip(terms.terms.to_pylist(), zip(terms.document_frequency().tolist(), terms.term_frequency().tolist())))
    assert by_term == {"maps": (2, 3), "topic": (1, 1), "atlas": (1, 1)}


@pytest.mark.parametrize(("n", "max_features"), [(3500, 40), (3500, 50000), (12, 50000)])
def test_counts_and_vocabulary_are_countvectorizers(n: int, max_features: int) -> None:
    texts = ([t.replace(SEPARATOR, " ") for t in random_texts(99, n)] + random_texts(7, n // 7))[:n]
    settings, min_df, max_df = vectorizer_settings(len(texts))
    vectorizer = CountVectorizer(**settings, min_df=min_df, max_df=max_df, max_features=max_features, dtype=np.float32)  # type: ignore[arg-type]
    expected = vectorizer.fit_transform(texts)
    counts, vocabulary = count_terms(texts, max_features=max_features)
    assert vocabulary.tolist() == vectorizer.get_feature_names_out().tolist()
    assert counts.dtype == np.float32 and (counts != expected).nnz == 0


def test_only_stop_words_give_no_terms() -> None:
    counts, vocabulary = count_terms(["the and", "of the", ""] * 10)
    assert counts.shape == (30, 0) and vocabulary.size == 0


def test_node_counts_add_up_documents_counts() -> None:
    texts = [t.replace(SEPARATOR, " ") for t in random_texts(99, 3000)] + random_texts(7, 500)
    counts, vocabulary = count_terms(texts, max_features=40)
    streamed = term_vocabulary(texts, len(texts), max_features=40)
    assert streamed.tolist() == vocabulary.tolist()
    rng = np.random.default_rng(0)
    leaf = rng.integers(-1, 7, len(texts))
    top = np.where(leaf >= 0, leaf // 3, -1)
    per_depth = node_counts(texts, [top, leaf], [3, 7], streamed)
    for members, got in zip([top, leaf], per_depth):
        keep = members >= 0
        indicator = np.zeros((got.shape[0], len(texts)), dtype=np.float32)
        indicator[members[keep], np.flatnonzero(keep)] = 1
        assert np.array_equal(got.toarray(), indicator @ counts.toarray())


def test_nodes_that_do_not_nest_are_refused() -> None:
    texts = ["maps and atlases", "atlases of maps", "rivers", "rivers and maps"]
    vocabulary = term_vocabulary(texts, len(texts))
    with pytest.raises(ValueError, match="do not nest"):
        node_counts(texts, [np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1])], [2, 2], vocabulary)


def test_data_runs_give_no_terms() -> None:
    """Encoded attachment lines, e-mail addresses and URLs are not prose: none of their letters become terms."""
    texts = [
        "the picture: M" + "AX>'" * 15 + " begin",
        "mail john@cs.cmu.edu or see http://www.example.org/pics today",
        "a" * 39 + " " + "b" * 40 + "\n" + "c" * 20 + "-" + "d" * 20,
    ]
    texts.append("数据" * 30 + "@ " + "x" * 45 + "é")  # a sentence of a script without spaces is prose, even with an @
    terms = [set(t) for t in as_dicts(texts)]
    assert terms[0] == {"picture", "begin"}
    assert terms[3] == {"数据" * 30, "x" * 45 + "é"}
    assert terms[1] == {"mail", "today"}
    assert terms[2] == {"a" * 39}
    assert as_dicts(texts) == reference(texts)
