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
    from datetime import timedelta

    from reactions.commands._common import open_store
    from reactions.models import utcnow
    from reactions.pipeline import parse_window, summarize
    from reactions.render import render_summary

    store = open_store()
    story = store.get_story(args.story)
    window = parse_window(args.since)
    summary = None
    if not args.fresh:
        # A stored summary for this window and style is reused while nothing was classified
        # or labelled since (and, for a sliding window, while it is a few minutes old at most).
        newer_than = store.last_changed_at(story.slug)
        if window is not None:
            recent = utcnow() - timedelta(minutes=5)
            newer_than = max(newer_than, recent) if newer_than else recent
        summary = store.summary_for_window(story.slug, window, newer_than=newer_than)
        if summary is not None and (summary.payload or {}).get("style", "detailed") != args.style:
            summary = None
    if summary is None:
        summary = summarize(store, story, since=window, style=args.style)
    print(render_summary(summary, story, args.format))
    return 0
