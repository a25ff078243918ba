"""`reactions eval-stance`: score a stance model on a labelled CSV, optionally simulating an editor."""

HELP = "score a stance model on labelled CSVs (F_avg, macro-F1, accuracy)"


def add_arguments(parser) -> None:
    parser.add_argument("--data", nargs="+", required=True, metavar="CSV",
                        help="CSV files with target,text,label to score on")
    parser.add_argument("--model", default=None, metavar="DIR",
                        help="a train-stance folder, a Hugging Face stance model, nli:MODEL, "
                        "chat:MODEL (the teacher's endpoint, REACTIONS_TEACHER_URL) or "
                        "chat-local:MODEL (default: the packaged model)")
    parser.add_argument("--labels-per-target", type=int, default=0, metavar="N",
                        help="simulate an editor who labels N posts per target first; the rest is scored")
    parser.add_argument("--strategy", choices=("active", "random"), default="active",
                        help="how the simulated editor's posts are picked (default active)")
    parser.add_argument("--seed", type=int, default=0, help="seed for --strategy random")
    parser.add_argument("--json", action="store_true", help="print the scores as one JSON object")


def run(args) -> int:
    import json

    from nlp.stance import load_classifier
    from nlp.stance.train import evaluate, read_rows

    rows = read_rows(args.data)
    clf = load_classifier(args.model)
    result = evaluate(clf, rows, labels_per_target=args.labels_per_target,
                      strategy=args.strategy, seed=args.seed)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{'target':40} {'F_avg':>6} {'macroF1':>7} {'acc':>6} {'n':>5}")
    for target, s in result["per_target"].items():
        print(f"{target[:40]:40} {s['F_avg']:6.1f} {s['macro_f1']:7.1f} {s['accuracy']:6.1f} {s['n']:5}")
    print(f"{'all (pooled)':40} {result['F_avg']:6.1f} {result['macro_f1']:7.1f} "
          f"{result['accuracy']:6.1f} {result['n']:5}")
    return 0
