"""`reactions story add|list|show|pause|resume|delete`: manage the stories being monitored."""

HELP = "add, list, show, pause, resume or delete stories"


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="story_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add or update a story from a TOML file")
    add.add_argument("file", help="story definition (see seeds/trump-maduro-call.toml)")
    sub.add_parser("list", help="list stories with their post counts")
    for name, text in (("show", "print a story's definition"), ("pause", "stop collecting a story"),
                       ("resume", "collect a paused story again")):
        sub.add_parser(name, help=text).add_argument("slug", metavar="STORY")
    delete = sub.add_parser("delete", help="delete a story with its posts, labels and summaries "
                            "(asks first)")
    delete.add_argument("slug", metavar="STORY")
    delete.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")


def run(args) -> int:
    from reactions.commands._common import open_store
    from reactions.stories import load_story_file

    store = open_store()
    action = args.story_command
    if action == "add":
        story = load_story_file(args.file)
        store.save_story(story)
        print(f"story saved: {story.slug} ({len(story.sources)} sources)")
    elif action == "list":
        stories = store.list_stories()
        if not stories:
            print("no stories yet: add one with `reactions story add FILE` or run `reactions init`")
        for story in stories:
            state = "active" if story.active else "paused"
            print(f"{story.slug}\t{state}\t{store.count_posts(story.slug)} posts\t{story.title}")
    elif action == "show":
        print(describe_story(store, store.get_story(args.slug)))
    elif action == "delete":
        return delete_story(store, args.slug, assume_yes=args.yes)
    else:
        store.set_story_active(args.slug, action == "resume")
        print(f"story {args.slug} {'resumed' if action == 'resume' else 'paused'}")
    return 0


def describe_story(store, story) -> str:
    """Everything in the story's definition, its state and what is stored for it."""
    import json

    def listed(values) -> str:
        return ", ".join(values) if values else "-"

    labels = store.label_counts(story.slug)
    lines = [
        f"slug:        {story.slug}",
        f"title:       {story.title}",
        f"claim:       {story.claim}",
        f"state:       {'active' if story.active else 'paused'}",
        f"queries:     {listed(story.queries)}",
        f"hashtags:    {listed(story.hashtags)}",
        f"languages:   {listed(story.languages)}",
        f"posts:       {store.count_posts(story.slug)}",
        "labels:      " + (", ".join(f"{k} {v}" for k, v in sorted(labels.items())) or "none"),
    ]
    if story.description:
        lines.insert(3, f"description: {story.description}")
    lines.append("sources:" if story.sources else "sources:     none")
    for source in story.sources:
        options = ", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}"
                            for k, v in sorted(source.options.items()))
        lines.append(f"  {source.name} every {source.interval_minutes} min"
                     + (f"; {options}" if options else ""))
    return "\n".join(lines)


def delete_story(store, slug: str, *, assume_yes: bool) -> int:
    """Ask, then delete. Without a terminal to ask on, only --yes deletes."""
    import sys

    story = store.get_story(slug)
    posts = store.count_posts(slug)
    if not assume_yes:
        if not sys.stdin.isatty():
            print(f"error: not deleting {slug!r} without confirmation: no terminal to ask on; "
                  "pass --yes", file=sys.stderr)
            return 2
        answer = input(f"Delete story {story.slug!r} ({story.title}) with its {posts} posts, "
                       "labels, summaries and subscriptions? Type the slug to confirm: ")
        if answer.strip() != story.slug:
            print("not deleted")
            return 1
    result = store.delete_story(slug)
    kept = result["posts"] - result["posts_deleted"]
    print(f"story deleted: {slug} ({result['posts_deleted']} posts deleted"
          + (f", {kept} kept because other stories hold them" if kept else "") + ")")
    return 0
