"""`reactions run`: the scheduler. Collects, classifies and summarizes every active story."""

HELP = "run the scheduler until Ctrl-C or SIGTERM (collect, classify, summarize on each interval)"


def add_arguments(parser) -> None:
    parser.add_argument("--story", action="append", help="only this story (repeatable)")


def run(args) -> int:
    import logging

    from reactions.commands._common import open_store
    from reactions.config import get_settings
    from reactions.schedule import Runner, run_forever

    logging.getLogger("reactions").setLevel(logging.INFO)
    settings = get_settings()
    store = open_store(settings)
    stories = [store.get_story(s) for s in args.story] if args.story else store.list_stories(
        active_only=True)
    if not stories:
        print("no active stories: add one with `reactions story add FILE` or run `reactions init`")
        return 1
    jobs = sum(len(s.sources) for s in stories)
    print(f"running {jobs} collection jobs for {len(stories)} stories; Ctrl-C to stop")
    run_forever(Runner(store, model=settings.stance_model), stories)
    print("stopped")
    return 0
