"""`reactions summarize [STORY]`: write and store the "What people are saying" paragraph."""

HELP = "write and store the paragraph for a story (or every active story)"


def add_arguments(parser) -> None:
    from reactions.commands._common import story_argument

    story_argument(parser, nargs="?")
    parser.add_argument("--since", metavar="WINDOW", help="only posts from the last 30m, 6h, 2d, 1w")
    parser.add_argument("--style", choices=("brief", "detailed"), default="brief",
                        help="brief (default) or detailed, quote-led with counts in the prose")


def run(args) -> int:
    from reactions.commands._common import (
        explain_unclassified,
        not_classified_yet,
        open_store,
        progress_bar,
        stories_for,
    )
    from reactions.pipeline import parse_window, summarize

    store = open_store()
    window = parse_window(args.since)
    code = 0
    for story in stories_for(store, args.story):
        pending = not_classified_yet(store, story)
        with progress_bar(f"writing the paragraph for {story.slug}"):
            summary = summarize(store, story, since=window, style=args.style)
        if explain_unclassified(summary, story, pending):
            code = 1
            continue
        print(f"{story.slug}: {summary.paragraph}")
    return code
