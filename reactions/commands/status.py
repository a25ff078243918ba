"""`reactions status`: per story and source, the last run, posts added, last error, next run.

Every source of every story is listed, including those that never ran yet, so a source
that the scheduler has not reached (or that a typo keeps from running) is visible.
"""

HELP = ("show the last collection run of every story's sources (never-run ones included) "
        "and digests whose outcome is unknown")


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print JSON (one object per source, then one per digest whose "
                        "outcome is unknown, with kind \"digest\")")


def unknown_digest_rows(store) -> list[dict]:
    """One row per digest whose outcome is unknown (reactions.digest.unknown_digests): kind
    "digest", state "unknown", its id (for `digest --resolve`), story, address and period."""
    from reactions.digest import unknown_digests

    return [{"kind": "digest", "story": d["story"], "source": None, "state": "unknown",
             "digest_id": d["id"], "address": d["address"], "period": d["period"],
             "period_key": d["period_key"], "message_id": d["message_id"],
             "claimed_at": d["claimed_at"], "attempts": d["attempts"], "error": d["error"]}
            for d in unknown_digests(store)]


def source_statuses(store) -> list[dict]:
    """One row per (story, source): the story's sources in their order, then any source that
    ran before but is no longer in the story's definition. Never-run sources have
    `state: "never run"` and null run fields."""
    from reactions.waits import saved_waits

    runs = {(r["story"], r["source"]): r for r in store.last_runs()}
    waits = saved_waits(store)
    rows = []
    for story in store.list_stories():
        names = [s.name for s in story.sources]
        names += sorted(src for (slug, src) in runs if slug == story.slug and src not in names)
        for name in dict.fromkeys(names):
            run = runs.get((story.slug, name))
            row = {
                "kind": "source", "story": story.slug, "source": name,
                "story_active": story.active,
                "in_definition": name in {s.name for s in story.sources},
                "state": run_state(run, waits.get((story.slug, name))),
                "started_at": None, "finished_at": None, "added": None, "pages": None,
                "error": None, "next_run": None,
                "waiting_until": waits.get((story.slug, name)),
            }
            if run:
                row.update({k: run[k] for k in ("started_at", "finished_at", "added", "pages",
                                                  "error", "next_run")})
            rows.append(row)
    return rows


def run_state(run, waiting_until=None) -> str:
    if run is not None and run["finished_at"] is None:
        return "running"
    if waiting_until is not None:  # not failing: the platform asked us to wait
        return "waiting"
    if run is None:
        return "never run"
    error = run["error"] or ""
    if "credentials missing" in error:
        return "skipped"
    return "failed" if error else "ok"


def run(args) -> int:
    import json

    from reactions.commands._common import open_store

    store = open_store()
    rows = source_statuses(store)
    unknown = unknown_digest_rows(store)
    if args.json:
        print(json.dumps(rows + unknown, default=str, indent=2))
        return 0
    if not rows:
        print("no stories yet: add one with `reactions story add FILE` or run `reactions init`")
    for r in rows:
        where = f"{r['story']}/{r['source']}"
        notes = []
        if not r["story_active"]:
            notes.append("story paused")
        if not r["in_definition"]:
            notes.append("no longer in the story")
        note = f" ({', '.join(notes)})" if notes else ""
        if r["state"] == "never run":
            print(f"{where}: never run yet{note}")
            continue
        if r["state"] == "waiting":
            last = f"; last error: {r['error']}" if r["error"] else ""
            print(f"{where}: waiting until {r['waiting_until']:%Y-%m-%d %H:%M:%S} UTC, as the "
                  f"platform asked; no request before then{note}{last}")
            continue
        when = r["finished_at"] or r["started_at"]
        if r["state"] == "skipped":
            reason = r["error"].split(": ", 1)[-1]
            print(f"{where}: {reason} (last tried {when:%Y-%m-%d %H:%M} UTC){note}")
            continue
        nxt = r["next_run"].isoformat(timespec="minutes") if r["next_run"] else "-"
        state = "" if r["state"] in ("ok", "failed") else f" [{r['state']}]"
        err = f"  error: {r['error']}" if r["error"] else ""
        print(f"{where}: last run {when:%Y-%m-%d %H:%M} UTC, {r['added']} added, "
              f"next {nxt}{state}{note}{err}")
    for d in unknown:
        print(f"digest {d['digest_id']} {d['story']} to {d['address']} ({d['period']}, "
              f"{d['period_key']}): outcome unknown, not resent; find Message-ID "
              f"{d['message_id']} in the recipient's mailbox, then `reactions digest --resolve "
              f"{d['digest_id']} --arrived yes|no`")
    return 0
