"""`reactions blurb STORY`: print the story's "What people are saying" paragraph."""

HELP = "print the paragraph for a story (text, markdown, html or json with citations)"


def add_arguments(parser) -> None:
    from reactions.commands._common import story_argument

    story_argument(parser)
    parser.add_argument("--format", choices=("text", "markdown", "html", "json"), default="text")
    parser.add_argument("--since", metavar="WINDOW",
                        help="only posts from the last 30m, 6h, 2d, 1w (compared with the "
                        "window before)")
    parser.add_argument("--style", choices=("brief", "detailed"), default="brief",
                        help="brief: the framing of each bucket in a few words, counts and "
                        "quotes after it (default); detailed: quote-led, counts in the prose")
    parser.add_argument("--fresh", action="store_true",
                        help="write a new paragraph even when a stored one is up to date")


def run(args) -> int:
    from reactions.commands._common import (
        explain_unclassified,
        not_classified_yet,
        open_store,
        progress_bar,
    )
    from reactions.pipeline import current_summary, parse_window
    from reactions.render import render_summary

    store = open_store()
    story = store.get_story(args.story)
    # The stored paragraph for this window and style while nothing was classified or labelled
    # since (and, for a sliding window, while it is a few minutes old at most).
    with progress_bar(f"writing the paragraph for {story.slug}"):
        summary = current_summary(store, story, since=parse_window(args.since), style=args.style,
                                  fresh=args.fresh)
    if explain_unclassified(summary, story, not_classified_yet(store, story)):
        return 1
    print(render_summary(summary, story, args.format))
    return 0
