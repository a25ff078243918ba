"""`reactions run`: the scheduler. Collects, classifies and summarizes every active story;
with REACTIONS_BROKER_URL set it only schedules, and `reactions worker` does the work."""

HELP = "run the scheduler until Ctrl-C or SIGTERM (collect, classify, summarize on each interval)"


def add_arguments(parser) -> None:
    parser.add_argument("--story", action="append", help="only this story (repeatable)")


def run(args) -> int:
    import logging
    import os
    import sys

    from reactions.commands._common import open_store
    from reactions.config import get_settings
    from reactions.schedule import Runner, run_forever

    logging.getLogger("reactions").setLevel(logging.INFO)
    settings = get_settings()
    store = open_store(settings)
    if args.story:
        for slug in args.story:
            store.get_story(slug)  # an unknown slug is an error now, not a silent no-op
    stories = store.list_stories(active_only=True)
    if args.story:
        stories = [s for s in stories if s.slug in args.story]
    dispatch = None
    if settings.broker_url:
        from reactions.worker import Dispatch

        dispatch = Dispatch(settings)
    jobs = sum(len(s.sources) for s in stories)
    where = "sent to the workers" if dispatch else "run here"
    print(f"running {jobs} collection jobs for {len(stories)} stories ({where}); stories are "
          "reread from the store as they change; Ctrl-C to stop", flush=True)
    if not stories:
        print("no active stories yet: add one with `reactions story add FILE` or run "
              "`reactions init`; it is picked up here within a minute", flush=True)
    runner = Runner(store, model=settings.stance_model, dispatch=dispatch, only=args.story)
    clean = run_forever(runner, stories)
    if not clean:
        # A job is stuck in a request that has not timed out yet: exit anyway (its run is
        # closed as interrupted at the next start) instead of waiting at interpreter exit.
        print("stopped (a collection in flight was abandoned)", flush=True)
        sys.stderr.flush()
        os._exit(0)
    print("stopped")
    return 0
