"""`reactions digest`: build and send a story's email digest now (or write it to a file)."""

HELP = ("send a story's email digest to an address now, write it to a .eml file (--dry-run), "
        "or settle one whose outcome is unknown (--resolve)")


def add_arguments(parser) -> None:
    parser.add_argument("--story", metavar="STORY", help="story slug (required unless --resolve)")
    parser.add_argument("--to", metavar="ADDRESS",
                        help="recipient email address (required unless --resolve)")
    parser.add_argument("--period", choices=("daily", "weekly"), default="daily",
                        help="the window the digest covers (default: daily)")
    parser.add_argument("--dry-run", metavar="FILE.eml",
                        help="write the message to this file instead of sending it")
    parser.add_argument("--subscribe", action="store_true",
                        help="also subscribe the address, so `reactions run` sends every period")
    parser.add_argument("--cron", metavar="EXPR",
                        help="with --subscribe: when to send, as crontab 'min hour day month "
                        "weekday' in UTC (default: 07:00 daily, Mondays for weekly)")
    parser.add_argument("--resolve", type=int, metavar="ID",
                        help="settle a digest whose outcome is unknown (its id is in "
                        "`reactions status`); needs --arrived")
    parser.add_argument("--arrived", choices=("yes", "no"),
                        help="with --resolve: yes records it as sent; no lets the next check "
                        "send it again, with the same Message-ID")


def resolve(store, digest_id: int, arrived: bool) -> int:
    """`--resolve ID --arrived yes|no`: settle a send whose outcome is unknown."""
    from reactions.digest import resolve_unknown, unknown_digests

    row = next((d for d in unknown_digests(store) if d["id"] == digest_id), None)
    resolve_unknown(store, digest_id, arrived=arrived)  # DigestError when there is none
    what = (f"digest {digest_id}" if row is None else
            f"digest {digest_id} ({row['story']} to {row['address']}, {row['period_key']})")
    if arrived:
        print(f"{what} recorded as sent; it will not be sent again")
    else:
        print(f"{what} recorded as not received; the next check sends it again "
              "with the same Message-ID")
    return 0


def run(args) -> int:
    from pathlib import Path

    from reactions.commands._common import open_store
    from reactions.config import get_settings
    from reactions.digest import (
        add_subscription,
        build_digest,
        list_subscriptions,
        period_key,
        send_digest,
        validate_cron,
    )
    from reactions.models import utcnow
    from reactions.notify import Mailer, validate_address

    settings = get_settings()
    if args.resolve is not None or args.arrived:
        if args.resolve is None or not args.arrived:
            raise ValueError("--resolve ID and --arrived yes|no go together")
        if args.story or args.to or args.dry_run or args.subscribe or args.cron:
            raise ValueError("--resolve takes only --arrived (no --story, --to or sending "
                             "options)")
        return resolve(open_store(settings), args.resolve, args.arrived == "yes")
    if not args.story or not args.to:
        raise ValueError("--story STORY and --to ADDRESS are required (or --resolve ID "
                         "--arrived yes|no)")
    store = open_store(settings)
    story = store.get_story(args.story)
    address = validate_address(args.to)
    cron = validate_cron(args.cron)
    if cron and not args.subscribe:
        raise ValueError("--cron only applies with --subscribe")
    now = utcnow()
    if args.dry_run:
        digest = build_digest(store, story, address, args.period, now=now, settings=settings)
        path = Path(args.dry_run)
        path.write_bytes(bytes(digest.message))
        print(f"digest written to {path} ({path.stat().st_size} bytes); nothing was sent")
        return 0
    mailer = Mailer(settings)  # fails early, naming the settings, when SMTP is not configured
    existing = next((s for s in list_subscriptions(store, story=story.slug)
                     if s["address"] == address and s["period"] == args.period), None)
    # A one-off send is recorded under an inactive subscription, so the scheduler and this
    # command never send the same period twice.
    active = args.subscribe or bool(existing and existing["active"])
    sub_id = add_subscription(store, story.slug, address, args.period,
                              cron=cron or (existing or {}).get("cron"), active=active)
    subscription = next(s for s in list_subscriptions(store, story=story.slug) if s["id"] == sub_id)
    outcome = send_digest(store, subscription, now=now, mailer=mailer, settings=settings)
    key = period_key(args.period, now)
    if outcome == "sent":
        print(f"{args.period} digest of {story.slug} for {key} sent to {address}")
    elif outcome == "already sent":
        print(f"the {args.period} digest of {story.slug} for {key} already went to {address}; "
              "nothing sent")
    elif outcome == "in progress":
        print(f"the {args.period} digest of {story.slug} for {key} is being sent to {address} "
              "by another process; nothing sent")
    else:
        from reactions.digest import digest_history

        error = next((d["error"] for d in digest_history(store, sub_id) if d["period_key"] == key),
                     None)
        print(f"error: the digest could not be sent ({outcome}): {error}")
        return 1
    if args.subscribe:
        print(f"{address} is subscribed to the {args.period} digest of {story.slug}")
    return 0
