"""How texts are cut into keyword terms, and a block of texts cut in a few calls into C rather than a Python loop per word.

The terms are exactly those scikit-learn's CountVectorizer finds with :func:`vectorizer_settings`
(lowercased texts, :data:`TOKEN_PATTERN`, stop words left out), so counts made from them are
CountVectorizer's to the unit. The block's texts are joined by a separator and lowercased in one go (a
separator ends a word, and a final sigma, exactly as the end of a text does), then classified byte by
byte with numpy: ASCII characters that are neither word characters nor hyphens cut the bytes into
pieces, no word spans one, and each ends a word as the end of a text does. A piece of two or more ASCII
letters is a word (an Arrow slice of the bytes); any other piece (digits, ``_``, hyphens, non-ASCII
letters) goes through the pattern itself. A block in which some text holds the separator is cut text
by text (same terms, slower).

*Data runs* give no terms (:func:`strip_data_runs`; on the bytes, :func:`_data_runs`): a stretch of the
lowercased text between spaces (or other ASCII control characters), made of ASCII characters only, that is
:data:`DATA_RUN_CHARS` characters or longer or holds an ``@`` or ``://``, is an encoded attachment line
(uuencode, base64), a hash, a rule of dashes, an e-mail address or a URL, not prose. Its letters would
otherwise become terms: a handful of uuencoded posts gave 20 Newsgroups' computing topic the label
"ax · max · edu" and leaf keywords such as "fyn, chz, bxn, qtm". ASCII only, because Chinese, Japanese or
Thai prose runs for whole sentences without a space.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse

TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W\d_]+(?:-[^\W\d_]+)*\b"  # words of 2+ letters, no numbers

# Words that say nothing about a topic in any corpus (conversational filler, reporting verbs,
# contraction stems), on top of scikit-learn's English list. Kept short on purpose: corpus-specific
# commonness is handled by max_df and the c-TF-IDF weighting, not by this list.
GENERIC_WORDS = frozenset(
    """
    just like know think really going want say said says saying does did doing got make makes made
    way good things thing lot use used using need right sure actually probably maybe mr mrs ms
    don doesn didn isn aren wasn weren won ve ll re let new time year years people want wants
    """.split()
)


DATA_RUN_CHARS = 40  # no prose word is this long; uuencode lines are 61 characters, base64 lines 76
# a whole stretch between boundaries (the space and ASCII control characters: whitespace, the separator of joined
# texts), of ASCII characters only, that holds @ or :// or is long; possessive, so a long stretch is read once
_DATA_RUN = re.compile(
    r"(?<![^\x00-\x20])(?=[\x21-\x7f]*+(?![^\x00-\x20]))"  # at a stretch's start, and the whole stretch is ASCII
    r"(?:(?=[\x21-\x7f]*?(?:@|://))[\x21-\x7f]++|[\x21-\x7f]{%d,}+)" % DATA_RUN_CHARS
)


def strip_data_runs(text: str) -> str:
    """``text`` with every data run (see the module docstring) replaced by a space."""
    return _DATA_RUN.sub(" ", text)


def lowercase_prose(text: str) -> str:
    """What terms are cut from: the text lowercased, data runs blanked (CountVectorizer's ``preprocessor``)."""
    return strip_data_runs(text.lower())


def vectorizer_settings(n_docs: int, min_df: int = 2) -> tuple[dict[str, object], int, float]:
    """How texts are cut into terms (CountVectorizer's arguments), and the document-frequency bounds for ``n_docs`` texts."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    settings: dict[str, object] = {"stop_words": sorted(ENGLISH_STOP_WORDS | GENERIC_WORDS), "token_pattern": TOKEN_PATTERN, "preprocessor": lowercase_prose}
    return settings, (min_df if n_docs >= 20 else 1), (0.5 if n_docs >= 20 else 1.0)


SEPARATOR = "\x00"


@dataclass
class BlockWords:
    """Every word of a block of texts that is not a stop word: its term (``terms[term_of_word[k]]``) and its text."""

    terms: pa.Array  # the block's distinct terms (strings), in order of first occurrence
    term_of_word: np.ndarray  # int64
    text_of_word: np.ndarray  # int64, the text's place in the block
    n_texts: int

    def counts(self) -> BlockTerms:
        """How often each term occurs in each text."""
        counts = sparse.csr_matrix((np.ones(self.term_of_word.size, dtype=np.int64), (self.text_of_word, self.term_of_word)), shape=(self.n_texts, len(self.terms)))
        counts.sum_duplicates()
        return BlockTerms(counts, self.terms)

    def counts_per_group(self, group_of_text: np.ndarray, n_groups: int, vocabulary: pa.Array) -> sparse.csr_matrix:
        """Groups x ``vocabulary`` counts: each word of a vocabulary term counted into its text's group (-1: none).

        Not in canonical form: a term's count in a group may be split over several entries."""
        column = pc.index_in(self.terms, value_set=vocabulary).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)[self.term_of_word]
        group = group_of_text[self.text_of_word]
        keep = (column >= 0) & (group >= 0)
        group, column = group[keep], column[keep]
        # rows in order by a stable (radix, for small numbers) sort; a column may repeat within a row: sums of
        # such matrices add the repeats up, and the caller puts the total in canonical form once
        order = np.argsort(group.astype(np.uint16 if n_groups <= 1 << 16 else np.int64), kind="stable")
        indptr = np.concatenate(([0], np.cumsum(np.bincount(group, minlength=n_groups))))
        return sparse.csr_matrix((np.ones(group.size, dtype=np.int64), column[order], indptr), shape=(n_groups, len(vocabulary)))


@dataclass
class BlockTerms:
    """``counts[i, j]``: how often ``terms[j]`` occurs in text i of the block (stop words left out)."""

    counts: sparse.csr_matrix  # texts x terms, int64, duplicates summed, indices sorted
    terms: pa.Array  # the block's distinct terms (strings), in order of first occurrence

    def document_frequency(self) -> np.ndarray:
        """In how many of the block's texts each term occurs."""
        return np.bincount(self.counts.indices, minlength=len(self.terms)).astype(np.int64)

    def term_frequency(self) -> np.ndarray:
        """How often each term occurs in the block."""
        return np.bincount(self.counts.indices, weights=self.counts.data, minlength=len(self.terms)).astype(np.int64)

    def columns_in(self, vocabulary: pa.Array) -> sparse.csr_matrix:
        """The counts with columns renumbered to ``vocabulary`` (distinct terms) and every other term dropped."""
        at = pc.index_in(self.terms, value_set=vocabulary).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        column = at[self.counts.indices]
        keep = column >= 0
        row = np.repeat(np.arange(self.counts.shape[0], dtype=np.int64), np.diff(self.counts.indptr))
        out = sparse.csr_matrix((self.counts.data[keep], (row[keep], column[keep])), shape=(self.counts.shape[0], len(vocabulary)))
        out.sort_indices()
        return out


@lru_cache(maxsize=1)
def _settings() -> tuple[re.Pattern[str], np.ndarray, pa.Array]:
    """The pattern, each byte's kind (:data:`_DELIMITER` ...) and the stop words."""
    kinds = np.full(256, _DELIMITER, dtype=np.uint8)
    kinds[np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)] = _LETTER
    kinds[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", dtype=np.uint8)] = _OTHER
    kinds[128:] = _OTHER
    kinds[ord(SEPARATOR)] = _SEPARATOR
    settings, _, _ = vectorizer_settings(2)
    stop_words = pa.array(sorted(settings["stop_words"]), pa.string())  # type: ignore[arg-type]
    return re.compile(TOKEN_PATTERN), kinds, stop_words


_DELIMITER, _LETTER, _OTHER, _SEPARATOR = 0, 1, 2, 3


def block_terms(texts: Sequence[str]) -> BlockTerms:
    """The terms of every text of ``texts`` and how often each occurs in each text."""
    return block_words(texts).counts()


def block_words(texts: Sequence[str]) -> BlockWords:
    """The words of every text of ``texts`` that are not stop words, as terms and the text each is in."""
    n = len(texts)
    if n == 0:
        return BlockWords(pa.array([], pa.string()), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 0)
    joined = SEPARATOR.join(texts)
    if joined.count(SEPARATOR) == n - 1:
        words, text_of_word = _cut(joined.lower().encode("utf-8"))
    else:  # a text holds the separator: each text cut on its own
        pattern, _, _ = _settings()
        found = [pattern.findall(lowercase_prose(text)) for text in texts]
        words = pa.array([w for ws in found for w in ws], pa.string())
        text_of_word = np.repeat(np.arange(n, dtype=np.int64), [len(ws) for ws in found])
    return _encoded(words, text_of_word, n)


def _cut(data: bytes) -> tuple[pa.Array, np.ndarray]:
    """The words of lowercased texts joined by :data:`SEPARATOR` (UTF-8), and the text each is in.

    The data falls into pieces at ASCII characters that are neither word characters nor hyphens: no word
    spans one, and each ends a word as the end of a text does. A piece of two or more ASCII letters is
    one word; any other piece (digits, ``_``, hyphens, non-ASCII) is cut by the pattern itself.
    """
    pattern, kinds, _ = _settings()
    raw = np.frombuffer(data, dtype=np.uint8)
    kind = kinds[raw]
    inside = (kind == _LETTER) | (kind == _OTHER)
    prose = _outside_data_runs(raw)
    if prose is not None:
        inside &= prose
    edges = np.diff(inside.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    others = np.flatnonzero(kind == _OTHER)
    plain = np.searchsorted(others, ends) == np.searchsorted(others, starts)
    text_of_piece = np.searchsorted(np.flatnonzero(kind == _SEPARATOR), starts)
    del kind, inside, edges, others
    chosen = np.flatnonzero(plain & (ends - starts >= 2))
    if chosen.size:
        bounds = np.empty(2 * starts.size, dtype=np.int64)  # piece, gap, piece, gap, ...: every piece at an even place
        bounds[0::2], bounds[1::2] = starts, ends
        pieces = pa.LargeStringArray.from_buffers(bounds.size - 1, pa.py_buffer(bounds), pa.py_buffer(data))
        words = pieces.take(pa.array(2 * chosen, pa.int64())).cast(pa.string())
    else:
        words = pa.array([], pa.string())
    text_of_word = text_of_piece[chosen]
    mixed = np.flatnonzero(~plain)
    if mixed.size:
        found = [pattern.findall(data[a:b].decode("utf-8")) for a, b in zip(starts[mixed].tolist(), ends[mixed].tolist())]
        words = pa.concat_arrays([words, pa.array([w for ws in found for w in ws], pa.string())])
        text_of_word = np.concatenate([text_of_word, np.repeat(text_of_piece[mixed], [len(ws) for ws in found])])
    return words, text_of_word


def _data_runs(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end byte of every data run in UTF-8 text (:func:`strip_data_runs`, on bytes)."""
    boundary = np.flatnonzero(raw <= 0x20)
    edges = np.concatenate(([-1], boundary, [raw.size]))
    starts, ends = edges[:-1] + 1, edges[1:]  # every stretch between boundaries, empty ones too
    long = np.flatnonzero(ends - starts >= DATA_RUN_CHARS)
    colons = np.flatnonzero(raw[:-2] == ord(":")) if raw.size >= 3 else np.zeros(0, dtype=np.int64)
    markers = np.concatenate((np.flatnonzero(raw == ord("@")), colons[(raw[colons + 1] == ord("/")) & (raw[colons + 2] == ord("/"))]))
    runs = np.union1d(long, np.searchsorted(ends, markers))  # the stretch a marker is in (a marker is never a boundary)
    if runs.size:
        high = np.flatnonzero(raw >= 0x80)  # bytes of non-ASCII characters: their stretches are prose, not data
        runs = runs[np.searchsorted(high, ends[runs]) == np.searchsorted(high, starts[runs])]
    return starts[runs], ends[runs]


def _outside_data_runs(raw: np.ndarray) -> np.ndarray | None:
    """False on the bytes of data runs, True elsewhere; None when there are none (the common case: nothing to mask)."""
    starts, ends = _data_runs(raw)
    if not starts.size:
        return None
    change = np.zeros(raw.size + 1, dtype=np.int32)
    np.add.at(change, starts, 1)
    np.add.at(change, ends, -1)
    return np.cumsum(change[:-1]) == 0


def _encoded(words: pa.Array, text_of_word: np.ndarray, n: int) -> BlockWords:
    """The words as numbers of distinct terms, stop words left out."""
    _, _, stop_words = _settings()
    encoded = words.dictionary_encode()
    terms = encoded.dictionary
    kept_terms = np.flatnonzero(~pc.is_in(terms, value_set=stop_words).to_numpy(zero_copy_only=False))
    renumber = np.full(len(terms), -1, dtype=np.int64)
    renumber[kept_terms] = np.arange(kept_terms.size)
    term_of_word = renumber[encoded.indices.to_numpy(zero_copy_only=False)]
    keep = term_of_word >= 0
    return BlockWords(terms.take(pa.array(kept_terms, pa.int64())), term_of_word[keep], text_of_word[keep], n)


__all__ = [
    "BlockTerms", "BlockWords", "DATA_RUN_CHARS", "GENERIC_WORDS", "SEPARATOR", "TOKEN_PATTERN", "block_terms", "block_words",
    "lowercase_prose", "strip_data_runs", "vectorizer_settings",
]
