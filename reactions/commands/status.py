"""`reactions status`: per story and source, the last run, posts added, last error, next run."""

HELP = "show the last collection run of each story and source"


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args) -> int:
    import json

    from reactions.commands._common import open_store

    store = open_store()
    runs = store.last_runs()
    if args.json:
        print(json.dumps(runs, default=str, indent=2))
        return 0
    if not runs:
        print("no collection runs yet: try `reactions collect` or `reactions run`")
    for r in runs:
        when = r["finished_at"] or r["started_at"]
        nxt = r["next_run"].isoformat(timespec="minutes") if r["next_run"] else "-"
        err = f"  error: {r['error']}" if r["error"] else ""
        print(f"{r['story']}/{r['source']}: last run {when:%Y-%m-%d %H:%M} UTC, "
              f"{r['added']} added, next {nxt}{err}")
    return 0
