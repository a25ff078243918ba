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
    stories = stories_for(store, args.story)
    check_sources(args.source, stories)
    for story in stories:
        with progress_bar(f"collecting {story.slug}") as advance:
            results = collect(store, story, sources=args.source, progress=advance)
        for r in results:
            line = f"{story.slug}/{r.source}: {r.added} new posts in {r.pages} pages"
            if r.skipped:
                line += f", {len(r.skipped)} malformed items skipped"
            if r.error:
                line += f"; stopped: {r.error}"
                failed = failed or "credentials missing" not in r.error
            print(line)
    return 1 if failed else 0


def check_sources(names, stories) -> None:
    """ValueError (one line, exit 2) for a `--source` no collector has or no story uses."""
    from collectors.base import REGISTRY

    for name in names or []:
        if name not in REGISTRY:
            raise ValueError(f"unknown source {name!r}; known sources: {', '.join(sorted(REGISTRY))}")
        if not any(s.name == name for story in stories for s in story.sources):
            used = ", ".join(sorted({s.name for story in stories for s in story.sources}))
            if len(stories) == 1:
                raise ValueError(f"{stories[0].slug} has no {name} source; "
                                 f"sources in use: {used or 'none'}")
            raise ValueError(f"no active story has a {name} source; "
                             f"sources in use: {used or 'none'}")
