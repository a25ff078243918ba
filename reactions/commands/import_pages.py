"""`reactions import --platform NAME FILE`: ingest raw API response pages saved to disk.

FILE holds one response page exactly as the platform's API returned it (JSON; XML for
rss), or JSONL with one page per line. Each page goes through that platform's `parse`,
then the same storing path as collection (language, duplicates, one transaction per
page). A page that cannot be parsed is reported with its line and the rest go on.
"""

HELP = "import raw API response pages saved to disk (one JSON page, or JSONL, one per line)"


def add_arguments(parser) -> None:
    parser.add_argument("--platform", required=True, metavar="NAME",
                        help="the API the pages come from (bluesky, mastodon, reddit, ...)")
    parser.add_argument("--story", metavar="STORY",
                        help="story to add the posts to (default: the only story)")
    parser.add_argument("file", metavar="FILE", help="saved response page(s): .json or .jsonl")


def run(args) -> int:
    import json
    from pathlib import Path

    from collectors.base import CollectorError, module_for
    from reactions.commands._common import open_store
    from reactions.pipeline import store_page
    from reactions.store import UnknownStory

    path = Path(args.file)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    if args.platform == "file":
        raise ValueError("the file source reads its own JSONL/CSV: add it to the story's "
                         "[[sources]] with a `path` instead")
    module = module_for(args.platform)
    store = open_store()
    if args.story:
        slug = store.get_story(args.story).slug
    else:
        stories = store.list_stories()
        if len(stories) != 1:
            names = ", ".join(s.slug for s in stories) or "none yet"
            raise UnknownStory(f"say which story the posts belong to with --story (stories: {names})")
        slug = stories[0].slug

    raw = path.read_bytes()
    # surrogateescape: a byte that is not UTF-8 costs only the item it sits in (parse
    # reports it with the item), never the page or the file.
    if args.platform == "rss":
        pages = [(1, raw)]
    elif path.suffix.lower() == ".jsonl":
        pages = [(n, line.decode("utf-8", "surrogateescape"))
                 for n, line in enumerate(raw.splitlines(), 1) if line.strip()]
    else:
        pages = [(1, raw.decode("utf-8", "surrogateescape"))]

    added = stored = failed = 0
    skipped: list[str] = []
    for number, text in pages:
        where = f"{path.name}:{number}" if len(pages) > 1 else path.name
        try:
            payload = text if args.platform == "rss" else json.loads(text)
            page_skipped: list[str] = []
            posts = module.parse(payload, skipped=page_skipped)
        except json.JSONDecodeError as exc:
            print(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); page skipped")
            failed += 1
            continue
        except CollectorError as exc:
            print(f"{where}: {exc}; page skipped")
            failed += 1
            continue
        skipped += [f"{where}: {reason}" for reason in page_skipped]
        added += store_page(store, slug, f"import:{args.platform}"[:40], posts, None,
                            save_cursor=False)
        stored += len(posts)
    for reason in skipped:
        print(f"skipped {reason}")
    print(f"{slug}: {stored} posts read from {len(pages) - failed} pages, {added} new"
          + (f", {len(skipped)} malformed items skipped" if skipped else "")
          + (f", {failed} pages unreadable" if failed else ""))
    return 1 if failed else 0
