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
                        help="print the paragraph, evidence, buckets, themes and each post's "
                        "bucket as JSON")
    parser.add_argument("--style", choices=("brief", "detailed"), default="brief",
                        help="brief (default) or detailed, quote-led with counts in the prose")
    parser.add_argument("--out", type=Path, metavar="FILE.csv",
                        help="also write each post's id, bucket, where the bucket came from "
                        "(label or model), whether it needs review, and its theme")


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


#: Said under a paragraph whose buckets the model guessed (no label column).
COLD_START = ("Buckets are the model's guess (the CSV has no label column): on claims it has "
              "not seen it puts about half of posts in the right bucket. Add a `label` column "
              "for the posts you have checked to make the shares reliable.")


def post_rows(posts: list[Any], predictions: list[Any], labels: list[str | None],
              evidence: Any, shown: dict[int, Any]) -> list[dict[str, Any]]:
    """One row per post: its shown id, bucket, where the bucket came from, review flag, theme."""
    theme_of: dict[int, str] = {}
    for bucket in evidence.buckets.values():
        for theme in bucket.themes:
            for pid in theme.post_ids:
                theme_of[pid] = theme.phrase
    rows = []
    for post, prediction, label in zip(posts, predictions, labels):
        rows.append({
            "id": shown.get(post.id, post.id), "bucket": prediction.label,
            "source": "label" if label is not None else "model",
            "confidence": round(max(prediction.scores.values()), 4) if prediction.scores else None,
            "needs_review": bool(prediction.needs_review),
            "repeat_of": shown.get(post.duplicate_of) if post.duplicate_of is not None else None,
            "theme": theme_of.get(post.id),
        })
    return rows


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    fields = ["id", "bucket", "source", "confidence", "needs_review", "repeat_of", "theme"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows({k: ("" if row[k] is None else row[k]) for k in fields} for row in rows)


def run(args) -> int:
    import json

    from nlp.summarize import build_evidence
    from reactions.models import UNCLASSIFIED, StancePrediction, Story, utcnow
    from reactions.pipeline import make_summary, writer_from_settings
    from reactions.render import render_summary

    claim = args.target.strip()
    if not claim:
        raise ValueError("--target needs the claim text")
    posts, labels, shown = read_posts(args.path)
    link_repeats(posts)
    texts = [p.text for p in posts]
    embeddings, encoder_name = None, None
    guessed = any(label is None for label in labels) and bool(posts)
    if guessed:
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
    from nlp.theme_encoder import for_encoder

    themes_model = for_encoder(encoder_name) if posts else None
    points = (dict(zip((p.id for p in posts), themes_model.encode(texts)))
              if themes_model is not None else None)
    title = args.title or f"the claim that {claim[0].lower()}{claim[1:]}".rstrip(". ")
    story = Story(slug="file", title=title.strip(), claim=claim)
    evidence = build_evidence(story, list(zip(posts, predictions)), embeddings=vectors,
                              encoder=encoder_name, points=points)
    written = writer_from_settings(style=args.style).write(evidence)
    summary = make_summary("file", evidence, written, now=utcnow(),
                           caveat=COLD_START if guessed else None)
    rows = post_rows(posts, predictions, labels, evidence, shown)
    if args.out:
        write_rows(args.out, rows)
    if args.json:
        from nlp.summarize import evidence_json

        def ids(sentence):
            return [shown.get(i, i) for i in sentence.post_ids]

        out = {
            "paragraph": written.paragraph,
            "period": summary.payload["period"],
            "style": written.style,
            "buckets": evidence_json(evidence, shown),
            "sentences": [{"text": s.text, "bucket": s.bucket, "post_ids": ids(s),
                           "urls": s.urls, "quotes": s.quotes} for s in written.sentences],
            "evidence": [{"text": s.text, "bucket": s.bucket, "post_ids": ids(s),
                          "urls": s.urls, "quotes": s.quotes} for s in written.evidence],
            "citations": [{**c, "post_id": shown.get(c["post_id"], c["post_id"])}
                          for c in summary.payload["citations"]],
            "posts": rows,
            "platforms": evidence.platform_counts,
            "unclassified": evidence.unclassified,
            "writer": written.writer,
            "replaced": written.replaced,
            "caveat": summary.payload.get("caveat"),
        }
        json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print(render_summary(summary, story, "text").removeprefix("What people are saying\n\n"))
    return 0
