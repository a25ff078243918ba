"""`reactions classify [STORY]`: put each new post in a bucket relative to the story's claim."""

HELP = "classify the stance of posts that have none yet"


def add_arguments(parser) -> None:
    from reactions.commands._common import story_argument

    story_argument(parser, nargs="?")
    parser.add_argument("--model", help="stance model (dir, HF id or path); default from settings")
    parser.add_argument("--redo", action="store_true", help="classify every post again")


def run(args) -> int:
    from reactions.commands._common import open_store, progress_bar, stories_for
    from reactions.config import get_settings
    from reactions.pipeline import classify

    store = open_store()
    model = args.model or get_settings().stance_model
    for story in stories_for(store, args.story):
        todo = store.count_posts(story.slug) if args.redo else len(store.posts_without_stance(story.slug))
        with progress_bar(f"classifying {story.slug}", total=todo) as advance:
            counts = classify(store, story, model=model, progress=advance, redo=args.redo)
        done = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing new"
        print(f"{story.slug}: {done}")
    return 0
