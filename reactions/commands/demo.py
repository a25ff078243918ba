"""`reactions demo`: the whole path on the demo story, offline: ingest, classify, summarize."""

HELP = "run the demo story end to end offline and print its paragraph"


def add_arguments(parser) -> None:
    parser.add_argument("--dashboard", action="store_true", help="open the dashboard afterwards")
    parser.add_argument("--editor-labels", type=int, default=48, metavar="N",
                        help="play the editor for N posts picked by active learning, answering "
                        "with the team's labels in the sample file (default 48; 0: no labels)")
    parser.add_argument("--teacher", type=int, default=None, metavar="N",
                        help="let the stance teacher (REACTIONS_TEACHER) label a random sample "
                        "of N posts first, keeping its confident half (default: "
                        "REACTIONS_TEACHER_SAMPLE when REACTIONS_TEACHER is set; 0: no teacher)")


def run(args) -> int:
    import time

    from reactions.commands._common import open_store, progress_bar
    from reactions.config import get_settings
    from reactions.pipeline import classify, collect, load_seed_stories, summarize
    from reactions.render import render_summary

    started = time.perf_counter()
    settings = get_settings()
    store = open_store(settings)
    load_seed_stories(store, settings.seeds_dir)
    story = store.get_story(settings.demo_story)
    offline = [s.name for s in story.sources if s.name == "file"]
    with progress_bar("ingesting sample posts") as advance:
        results = collect(store, story, sources=offline, progress=advance)
    added = sum(r.added for r in results)
    print(f"ingested {added} new posts ({store.count_posts(story.slug)} in the store)")
    if args.editor_labels > 0 and not store.labels(story.slug, source="human"):
        taught = teach_like_an_editor(store, story, settings, args.editor_labels)
        print(f"an editor's {taught} answers (the team's labels in the sample file, for the posts "
              "active learning picked) taught the classifier this story; the model classifies "
              "the rest")
    taught_by_teacher = run_teacher(store, story, settings, args.teacher)
    with progress_bar("classifying", total=len(store.posts_without_stance(story.slug))) as advance:
        classify(store, story, model=settings.stance_model, progress=advance,
                 redo=taught_by_teacher > 0)
    with progress_bar("writing the paragraph"):
        summary = summarize(store, story)
    print()
    print(render_summary(summary, story, "text"))
    print()
    print(describe_scores(sample_scores(store, story)))
    print(f"\ndone in {time.perf_counter() - started:.1f} s; database: "
          f"{store.engine.url.render_as_string(hide_password=True)}")
    if args.dashboard:
        from reactions.commands.dashboard import launch

        return launch(settings.dashboard_port)
    print("open the dashboard with: reactions dashboard")
    return 0


def teach_like_an_editor(store, story, settings, limit: int) -> int:
    """Run the `reactions label` loop with the sample file's team labels as the editor's answers.

    A new story has no labelled data; the product's answer is a few editor labels on the
    posts that teach the classifier most. The demo plays that editor from the labels the team
    wrote next to each sample post, so what it prints is the few-label path, said plainly.
    """
    from nlp.stance import load_classifier
    from reactions.commands._common import progress_bar
    from reactions.commands.label import label_loop
    from reactions.models import normalize_label

    with progress_bar("loading the stance model"):
        clf = load_classifier(settings.stance_model, review_below=settings.review_threshold)

    with progress_bar("an editor labels the posts active learning picks", total=limit) as advance:
        def team_label(post, guess, confidence):
            advance()
            label = (post.raw or {}).get("label")
            return normalize_label(label) if label else None

        return label_loop(store, story, clf, limit, team_label, batch=8,
                          labeller="demo: team labels")


def run_teacher(store, story, settings, sample: int | None) -> int:
    """Let the stance teacher label a random sample of the demo's posts, as the background
    step does for a new story; returns how many labels it stored (0 when it is off or the
    story already holds its labels)."""
    from reactions.commands._common import progress_bar
    from reactions.teach import teach_story, wanted

    if sample is None:
        if not wanted(store, story.slug, settings):
            return 0
        sample = settings.teacher_sample
    if sample <= 0:
        return 0
    with progress_bar(f"the stance teacher labels a sample of {sample} posts"):
        result = teach_story(store, story, sample=sample)
    if result.stored:
        print(f"the stance teacher {result.teacher} labelled {result.stored} of the {result.asked} "
              "posts it was asked about (its confident half); the classifier adapted to them")
    return result.stored


def sample_scores(store, story) -> dict:
    """The story's buckets scored against the sample file's team labels: on every classified
    post with a team label, and on those no label (an editor's or the teacher's) taught.

    A post an editor labelled counts with the editor's answer, as the paragraph counts it;
    posts left unclassified (another language, no text) are not scored.
    """
    from reactions.models import BUCKETS, normalize_label

    sources: dict[int, str] = {}
    for post_id, _text, _label, source in store.labels(story.slug):
        if source == "human" or post_id not in sources:  # an editor's label wins
            sources[post_id] = source
    rows = []
    for post, prediction in store.classified_posts(story.slug):
        gold = (post.raw or {}).get("label")
        if gold and prediction.label in BUCKETS:
            rows.append((normalize_label(gold), prediction.label, post.id not in sources))
    taught = sorted(set(sources.values()))
    return {
        "taught_by": {s: sum(1 for v in sources.values() if v == s) for s in taught},
        "all": bucket_scores([(g, p) for g, p, _ in rows]),
        "untaught": bucket_scores([(g, p) for g, p, fresh in rows if fresh]),
    }


def bucket_scores(pairs) -> dict:
    """Accuracy, macro-F1 (over the three buckets) and each bucket's F1 of (gold, predicted)
    pairs."""
    from reactions.models import BUCKETS

    n = len(pairs)
    f1s = []
    for bucket in BUCKETS:  # F1 = 2 tp / (predicted + actual)
        tp = sum(1 for g, p in pairs if g == bucket and p == bucket)
        predicted = sum(1 for _, p in pairs if p == bucket)
        actual = sum(1 for g, _ in pairs if g == bucket)
        f1s.append(2 * tp / (predicted + actual) if predicted + actual else 0.0)
    correct = sum(1 for g, p in pairs if g == p)
    return {"n": n, "accuracy": correct / n if n else 0.0, "macro_f1": sum(f1s) / len(f1s),
            "f1": dict(zip(BUCKETS, f1s))}


def describe_scores(scores: dict) -> str:
    """Two lines: what taught the classifier, and its scores against the sample's labels."""
    names = {"human": "an editor's", "teacher": "the teacher's"}
    taught = " and ".join(f"{names.get(s, s)} {n} labels" for s, n in scores["taught_by"].items())
    lines = [f"scored against the team's labels in the sample file (taught by "
             f"{taught or 'no labels'}):"]
    for key, what in (("untaught", "posts no label taught"), ("all", "all labelled posts")):
        r = scores[key]
        lines.append(f"  {what}: accuracy {r['accuracy']:.2f}, macro-F1 {r['macro_f1']:.2f} "
                     f"({r['n']} posts)")
    return "\n".join(lines)
