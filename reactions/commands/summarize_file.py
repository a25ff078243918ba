"""`reactions summarize-file POSTS.csv --target CLAIM`: the paragraph and themes for a CSV export.

The CSV needs a `text` column; `id`, `author`, `created_at`, `url`, `platform` and `label`
are optional. Given labels (supporters/skeptics/neutral, favor/against/none, ...) are used
as they are; without a label column every row is classified against the claim. Nothing is
stored: this is for an export someone hands a desk editor.
"""

from __future__ import annotations

import csv
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

HELP = "write the paragraph and themes for a CSV of posts (text column; label optional)"


def add_arguments(parser) -> None:
    parser.add_argument("path", metavar="POSTS.csv", type=Path, help="CSV with a `text` column")
    parser.add_argument("--target", required=True, metavar="CLAIM",
                        help="the claim supporters support (e.g. the story's headline claim)")
    parser.add_argument("--title", help="what the paragraph says the discussion is about "
                        "(default: the claim)")
    parser.add_argument("--json", action="store_true",
                        help="print the paragraph, buckets and themes as JSON")


def read_posts(path: Path) -> tuple[list[Any], list[str | None], dict[int, Any]]:
    """Posts (store-less: id = row number), labels per row (None = classify), row -> shown id."""
    from reactions.models import Post, normalize_label

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    csv.field_size_limit(10_000_000)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [c.strip().lower() for c in reader.fieldnames or []]
            if "text" not in columns:
                raise ValueError(f"{path}: needs a `text` column (found: {', '.join(columns) or 'none'})")
            rows = [{(k or "").strip().lower(): (v or "") for k, v in row.items()} for row in reader]
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ValueError(f"{path}: not a readable CSV: {exc}") from None
    has_labels = "label" in columns
    posts, labels, shown = [], [], {}
    for number, row in enumerate(rows):
        line = number + 2  # the header is line 1
        label = None
        if has_labels:
            try:
                label = normalize_label(row.get("label", ""))
            except ValueError as exc:
                raise ValueError(f"{path}, line {line}: {exc}") from None
        created = None
        if row.get("created_at"):
            try:
                created = datetime.fromisoformat(row["created_at"].strip().replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"{path}, line {line}: created_at {row['created_at']!r} is not "
                                 "an ISO date such as 2025-11-24T10:00:00Z") from None
        given_id = row.get("id", "").strip()
        shown[number] = given_id if given_id else number
        posts.append(Post(platform=row.get("platform", "").strip().lower() or "file",
                          native_id=given_id or str(number), text=row["text"],
                          author=row.get("author") or None, created_at=created,
                          url=row.get("url") or None, id=number))
        labels.append(label)
    return posts, labels, shown


def link_repeats(posts: list[Any]) -> None:
    """Mark reposts and near-duplicates so themes count each point once."""
    from nlp.text import near_duplicates

    for post, original in zip(posts, near_duplicates([p.text for p in posts])):
        post.duplicate_of = posts[original].id if original is not None else None


def run(args) -> int:
    import json

    from nlp.summarize import build_evidence, evidence_json
    from reactions.models import UNCLASSIFIED, StancePrediction, Story
    from reactions.pipeline import writer_from_settings

    claim = args.target.strip()
    if not claim:
        raise ValueError("--target needs the claim text")
    posts, labels, shown = read_posts(args.path)
    link_repeats(posts)
    texts = [p.text for p in posts]
    embeddings, encoder_name = None, None
    if any(label is None for label in labels) and posts:
        from nlp.stance import load_classifier

        classifier = load_classifier(None)
        encoder = getattr(classifier, "encoder", None)
        if encoder is not None:
            embeddings = encoder.encode(texts)
            encoder_name = encoder.name
        predictions = classifier.predict(texts, claim, embeddings=embeddings)
    else:
        predictions = [StancePrediction(label or UNCLASSIFIED) for label in labels]
    if embeddings is None and posts:
        from nlp.embed import load_encoder
        from reactions.config import get_settings

        encoder = load_encoder(get_settings().encoder_model)
        embeddings, encoder_name = encoder.encode(texts), encoder.name
    vectors = {p.id: embeddings[i] for i, p in enumerate(posts)} if posts else {}
    title = args.title or f"the claim that {claim[0].lower()}{claim[1:]}".rstrip(". ")
    story = Story(slug="file", title=title.strip(), claim=claim)
    evidence = build_evidence(story, list(zip(posts, predictions)), embeddings=vectors,
                              encoder=encoder_name)
    written = writer_from_settings().write(evidence)
    if args.json:
        buckets = evidence_json(evidence, shown)
        out = {
            "paragraph": written.paragraph,
            "buckets": buckets,
            "sentences": [{"text": s.text, "bucket": s.bucket,
                           "post_ids": [shown.get(i, i) for i in s.post_ids], "urls": s.urls}
                          for s in written.sentences],
            "platforms": evidence.platform_counts,
            "unclassified": evidence.unclassified,
            "writer": written.writer,
            "replaced": written.replaced,
        }
        json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print(written.paragraph)
    return 0
