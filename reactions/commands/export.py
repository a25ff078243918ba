"""`reactions export STORY`: a story's posts with bucket, probabilities and label source."""

HELP = "export a story's posts with their bucket, probabilities and label source (csv, jsonl, parquet)"


def add_arguments(parser) -> None:
    from reactions.commands._common import story_argument

    story_argument(parser)
    parser.add_argument("--since", metavar="WINDOW",
                        help="only posts from the last 30m, 6h, 2d, 1w (default: all)")
    parser.add_argument("--format", choices=("csv", "jsonl", "parquet"), default=None,
                        help="file format (default: from --out's extension, else csv)")
    parser.add_argument("--out", metavar="FILE",
                        help="write here instead of standard output (parquet needs a file)")


def _format(args) -> str:
    if args.format:
        return args.format
    if args.out:
        suffix = args.out.rsplit(".", 1)[-1].lower() if "." in args.out else ""
        if suffix in ("csv", "jsonl", "parquet"):
            return suffix
    return "csv"


def run(args) -> int:
    import os
    import sys
    from pathlib import Path

    from reactions.aggregates import Filters
    from reactions.commands._common import open_store
    from reactions.export import PostQuery, check_format, export
    from reactions.models import utcnow
    from reactions.pipeline import parse_window

    fmt = check_format(_format(args))
    window = parse_window(args.since)
    if fmt == "parquet" and not args.out:
        raise ValueError("parquet is a binary format: give a file with --out FILE")
    store = open_store()
    story = store.get_story(args.story)  # an unknown story fails before any file is made
    query = PostQuery(story.slug, Filters(since=utcnow() - window if window else None))
    if not args.out:
        try:
            n = export(store, query, fmt, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:  # `| head`: the reader has what it wanted
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0
        print(f"exported {n} posts of {story.slug}", file=sys.stderr)
        return 0
    target = Path(args.out)
    # Written beside the target and moved into place, so a failed export leaves no half file.
    partial = target.with_name(f".{target.name}.partial")
    try:
        if fmt == "parquet":
            n = export(store, query, fmt, str(partial))
        else:
            with partial.open("w", encoding="utf-8", newline="") as out:
                n = export(store, query, fmt, out)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    print(f"exported {n} posts of {story.slug} to {target}", file=sys.stderr)
    return 0
