"""`reactions story add|list|show|pause|resume`: manage the stories being monitored."""

HELP = "add, list, show, pause or resume stories"


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="story_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add or update a story from a TOML file")
    add.add_argument("file", help="story definition (see seeds/trump-maduro-call.toml)")
    sub.add_parser("list", help="list stories with their post counts")
    for name, text in (("show", "print a story's definition"), ("pause", "stop collecting a story"),
                       ("resume", "collect a paused story again")):
        sub.add_parser(name, help=text).add_argument("slug", metavar="STORY")


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
        story = store.get_story(args.slug)
        print(f"slug:    {story.slug}\ntitle:   {story.title}\nclaim:   {story.claim}")
        print(f"queries: {', '.join(story.queries)}\nsources: "
              + ", ".join(f"{s.name} every {s.interval_minutes} min" for s in story.sources))
    else:
        store.set_story_active(args.slug, action == "resume")
        print(f"story {args.slug} {'resumed' if action == 'resume' else 'paused'}")
    return 0
