"""The cold start on the demo story, end to end as the product runs it, with and without the teacher.

`reactions demo --editor-labels 0` classifies the demo story with no labels. With the stance
teacher on, a chat model first labels a random sample of the story's posts, its confident
half is stored as teacher labels, and the story is re-classified by a classifier adapted to
them. This script does both in one run, into a throw-away SQLite database, through the same
functions the demo calls (`pipeline.collect`, `reactions.teach.teach_story`,
`pipeline.classify`), and scores against the team's labels in the sample file:

* `majority`: every post in the most common bucket of the scored rows (a floor);
* `no labels`: the default classifier, no labels (today's cold start);
* `teacher`: the same classifier adapted to the teacher's labels.

All three are scored on the same rows: the labelled English posts the teacher did NOT label
(a teacher label is not a prediction). Accuracy, macro-F1 over the three buckets and F_avg
(mean F1 of supporters and skeptics, SemEval-2016's measure). The teacher's sample is the
product's own: seeded by the story, so a second run asks about the same posts.

    PYTHONPATH=$PWD:/tmp/teacher-pkgs python benchmarks/teacher_cold_start.py   # the opt-in local model
    python benchmarks/teacher_cold_start.py --sample 128 --threads 2
    REACTIONS_TEACHER=openai REACTIONS_TEACHER_URL=http://127.0.0.1:8000/v1 \\
        REACTIONS_TEACHER_MODEL=NAME python benchmarks/teacher_cold_start.py

Without REACTIONS_TEACHER set it uses the local model (REACTIONS_TEACHER=local). The teacher
reads each asked post once (about 5 CPU seconds a post for the local 1.5B model on CPU). The
last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def scored(pairs: list[tuple[str, str]]) -> dict:
    """Accuracy, macro-F1 and F_avg of (gold, predicted) bucket pairs, rounded."""
    from reactions.commands.demo import bucket_scores

    out = bucket_scores(pairs)
    f1 = out.pop("f1")
    out["f_avg"] = (f1["supporters"] + f1["skeptics"]) / 2
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


def predictions(store, slug: str) -> dict[int, tuple[str, str]]:
    """post id -> (team label, model's bucket) for the story's labelled, classified posts."""
    from reactions.models import BUCKETS, normalize_label

    out = {}
    for post, prediction in store.classified_posts(slug):
        gold = (post.raw or {}).get("label")
        if gold and prediction.label in BUCKETS:
            out[post.id] = (normalize_label(gold), prediction.label)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=0,
                        help="posts the teacher is asked about (default REACTIONS_TEACHER_SAMPLE)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (local model)")
    args = parser.parse_args(argv)

    os.environ.setdefault("REACTIONS_TEACHER", "local")
    workdir = tempfile.mkdtemp(prefix="teacher-cold-start-")
    os.environ["REACTIONS_DATABASE_URL"] = f"sqlite:///{workdir}/bench.db"
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from reactions.config import get_settings
    from reactions.pipeline import classify, collect, load_seed_stories
    from reactions.store import Store
    from reactions.teach import teach_story, teacher

    settings = get_settings()
    store = Store.from_settings(settings)
    load_seed_stories(store, settings.seeds_dir)
    story = store.get_story(settings.demo_story)
    collect(store, story, sources=[s.name for s in story.sources if s.name == "file"])

    start = time.perf_counter()
    classify(store, story, model=settings.stance_model)
    before = predictions(store, story.slug)
    seconds_classify = time.perf_counter() - start

    model = teacher(settings)
    sample = args.sample or settings.teacher_sample
    start, cpu = time.perf_counter(), time.process_time()
    result = teach_story(store, story, model, sample=sample)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    taught = {post_id: label for post_id, _t, label, _s in store.labels(story.slug, source="teacher")}
    classify(store, story, model=settings.stance_model, redo=True)
    after = predictions(store, story.slug)

    rows = sorted(set(before) & set(after) - set(taught))
    gold = [before[i][0] for i in rows]
    majority = max(("supporters", "skeptics", "neutral"), key=gold.count)
    results: dict = {
        "teacher": result.teacher, "asked": result.asked, "teacher_labels": result.stored,
        "scored_posts": len(rows),
        "majority": scored([(g, majority) for g in gold]),
        "no_labels": scored([before[i] for i in rows]),
        "teacher_adapted": scored([after[i] for i in rows]),
        "no_labels_all_posts": scored(list(before.values())),
        "teacher_labels_accuracy": round(
            sum(before[i][0] == lab for i, lab in taught.items() if i in before)
            / max(1, sum(1 for i in taught if i in before)), 3),
        "teacher_seconds_per_post": round(wall / max(1, result.asked), 2),
        "teacher_cpu_seconds_per_post": round(cpu / max(1, result.asked), 2),
        "classify_seconds": round(seconds_classify, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(f"demo story, {result.teacher}: asked about {result.asked} posts, kept "
          f"{result.stored} (accuracy of those labels {results['teacher_labels_accuracy']:.3f}); "
          f"scored on the {len(rows)} labelled posts it did not label")
    for name in ("majority", "no_labels", "teacher_adapted"):
        r = results[name]
        print(f"{name:16} accuracy {r['accuracy']:.3f}  macro-F1 {r['macro_f1']:.3f}  "
              f"F_avg {r['f_avg']:.3f}  n={r['n']}")
    print(f"teacher: {results['teacher_seconds_per_post']} s/post wall, "
          f"{results['teacher_cpu_seconds_per_post']} CPU s/post")
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
