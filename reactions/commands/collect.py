"""`reactions collect [STORY]`: fetch new posts from each source of a story, once."""

HELP = "collect new posts for a story (or every active story) once"


def add_arguments(parser) -> None:
    from reactions.commands._common import story_argument

    story_argument(parser, nargs="?")
    parser.add_argument("--source", action="append", help="only this source (repeatable)")


def run(args) -> int:
    from reactions.commands._common import open_store, progress_bar, stories_for
    from reactions.pipeline import collect

    store = open_store()
    failed = False
    for story in stories_for(store, args.story):
        with progress_bar(f"collecting {story.slug}") as advance:
            results = collect(store, story, sources=args.source, progress=advance)
        for r in results:
            line = f"{story.slug}/{r.source}: {r.added} new posts in {r.pages} pages"
            if r.skipped:
                line += f", {len(r.skipped)} malformed items skipped"
            if r.busy:
                line = f"{story.slug}/{r.source}: skipped, another process is collecting it now"
            if r.error:
                line += f"; stopped: {r.error}"
                failed = failed or "credentials missing" not in r.error
            print(line)
    return 1 if failed else 0
