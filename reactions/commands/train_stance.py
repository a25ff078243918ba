"""`reactions train-stance`: fit a stance model folder from labelled CSVs."""

HELP = "train a stance model from labelled CSVs (target,text,label) into a folder"


def add_arguments(parser) -> None:
    parser.add_argument("--data", nargs="+", required=True, metavar="CSV",
                        help="CSV files with target,text,label (favor|against|none or bucket "
                        "names); key-point argument files (topic,argument,stance) work too")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write the model to")
    parser.add_argument("--base", default=None, metavar="MODEL",
                        help="sentence encoder: HF id or path (default: packaged all-MiniLM-L6-v2)")
    parser.add_argument("--name", default=None,
                        help="model name recorded with each prediction (default: stance:DIR)")
    parser.add_argument("--min-target-rows", type=int, default=100,
                        help="targets with at least this many rows get their own head (default 100)")
    parser.add_argument("--pair", action="store_true",
                        help="also fine-tune a (claim, post) pair model on the rows, the cold-start "
                        "prior for claims with no labels (packaged encoder only; about 4 minutes "
                        "per 5,000 rows on 2 CPU cores)")


def run(args) -> int:
    import sys
    import time

    from nlp.stance.train import read_rows, train

    if args.pair and args.base is not None:
        print("error: --pair fine-tunes the packaged encoder's layers; leave out --base",
              file=sys.stderr)
        return 2
    started = time.perf_counter()
    rows = read_rows(args.data)
    clf = train(rows, encoder_spec=args.base, min_target_rows=args.min_target_rows,
                name=args.name or f"stance:{args.out}", log=print)
    if args.pair:
        from nlp.stance.pair import train_pair

        clf.pair = train_pair(rows, log=print)
    clf.save(args.out, encoder_spec=args.base)
    print(f"wrote {args.out}: {len(rows)} rows, {len(set(rows.targets))} targets, "
          f"{len(clf.targets)} target heads{', pair model' if clf.pair else ''}, {time.perf_counter() - started:.0f} s")
    return 0
