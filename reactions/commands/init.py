"""`reactions init`: create or upgrade the database, and load the stories in seeds/."""

HELP = "create or upgrade the database and load the stories defined in seeds/"


def add_arguments(parser) -> None:
    parser.add_argument("--no-seeds", action="store_true", help="do not load seeds/*.toml")


def run(args) -> int:
    from reactions.commands._common import open_store
    from reactions.config import get_settings
    from reactions.pipeline import load_seed_stories

    settings = get_settings()
    store = open_store(settings)
    print(f"database ready: {store.engine.url.render_as_string(hide_password=True)}")
    if not args.no_seeds:
        for story in load_seed_stories(store, settings.seeds_dir):
            print(f"story loaded: {story.slug}")
    return 0
