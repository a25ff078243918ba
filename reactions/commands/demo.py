"""`reactions demo`: the whole path on the demo story, offline: ingest, classify, summarize."""

HELP = "run the demo story end to end offline and print its paragraph"


def add_arguments(parser) -> None:
    parser.add_argument("--dashboard", action="store_true", help="open the dashboard afterwards")
    parser.add_argument("--editor-labels", type=int, default=48, metavar="N",
                        help="play the editor for N posts picked by active learning, answering "
                        "with the team's labels in the sample file (default 48; 0: no labels)")


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
    with progress_bar("classifying", total=len(store.posts_without_stance(story.slug))) as advance:
        classify(store, story, model=settings.stance_model, progress=advance)
    with progress_bar("writing the paragraph"):
        summary = summarize(store, story)
    print()
    print(render_summary(summary, story, "text"))
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
