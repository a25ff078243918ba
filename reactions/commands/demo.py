"""`reactions demo`: the whole path on the demo story, offline: ingest, classify, summarize."""

HELP = "run the demo story end to end offline and print its paragraph"


def add_arguments(parser) -> None:
    parser.add_argument("--dashboard", action="store_true", help="open the dashboard afterwards")


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
    with progress_bar("classifying", total=len(store.posts_without_stance(story.slug))) as advance:
        classify(store, story, model=settings.stance_model, progress=advance)
    summary = summarize(store, story)
    print()
    print(render_summary(summary, story, "text"))
    print(f"\ndone in {time.perf_counter() - started:.1f} s; database: "
          f"{store.engine.url.render_as_string(hide_password=True)}")
    if args.dashboard:
        from reactions.commands.dashboard import launch

        return launch(settings.dashboard_port)
    print("open the dashboard with: python -m reactions dashboard")
    return 0
