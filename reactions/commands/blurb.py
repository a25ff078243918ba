"""`reactions blurb STORY`: print the story's "What people are saying" paragraph."""

HELP = "print the paragraph for a story (text, markdown or json)"


def add_arguments(parser) -> None:
    from reactions.commands._common import story_argument

    story_argument(parser)
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    parser.add_argument("--since", metavar="WINDOW",
                        help="write a fresh paragraph from the last 30m, 6h, 2d, 1w")


def run(args) -> int:
    from reactions.commands._common import open_store
    from reactions.pipeline import parse_window, summarize
    from reactions.render import render_summary

    store = open_store()
    story = store.get_story(args.story)
    summary = None if args.since else store.latest_summary(story.slug)
    if summary is None:
        summary = summarize(store, story, since=parse_window(args.since))
    print(render_summary(summary, story, args.format))
    return 0
