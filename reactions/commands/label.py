"""`reactions label STORY`: an editor labels the posts that teach the story's classifier most.

Each answer is stored as a human label at once, the classifier adapts to all labels so far
(a fraction of a second), and active learning picks the next post: spread-out posts first,
then those the classifier is least sure about among typical ones.
"""

HELP = "label a story's posts in the terminal; active learning picks what to ask"

KEYS = {"s": "supporters", "k": "skeptics", "n": "neutral"}


def add_arguments(parser) -> None:
    from reactions.commands._common import story_argument

    story_argument(parser)
    parser.add_argument("--limit", type=int, default=20, help="posts to ask about (default 20)")
    parser.add_argument("--model", default=None, help="stance model; default from settings")
    parser.add_argument("--labeller", default=None, help="who is labelling (stored with each label)")
    parser.add_argument("--teacher", type=int, default=0, metavar="N",
                        help="instead of asking you, let the stance teacher (REACTIONS_TEACHER "
                        "openai or local) label a random sample of N unlabelled posts; its "
                        "confident half is stored as teacher labels, which editors' labels "
                        "override")


def label_loop(store, story, clf, limit: int, answer, *, batch: int = 1,
               labeller: str | None = None) -> int:
    """Ask `answer(post, guess, confidence)` about the posts active learning picks, `batch` at
    a time, adapting the classifier to every label so far before each pick. `answer` returns
    a bucket, "" to accept the guess, None to skip, or "quit". Returns how many were stored.
    """
    import numpy as np

    from nlp.stance.contract import skip_reason
    from nlp.stance.heads import pick_for_labeling
    from reactions.models import BUCKETS

    posts = [p for p in store.posts(story.slug) if p.duplicate_of is None
             and skip_reason(p.text, p.language, clf.languages) is None]
    if not posts:
        return 0
    vectors = post_vectors(store, clf, posts)
    index = {p.id: i for i, p in enumerate(posts)}
    labels = {pid: label for pid, _, label, source in store.labels(story.slug) if source == "human"}
    texts = [p.text for p in posts]
    skipped: set[int] = set()
    stored = 0
    while stored < limit:
        known = [pid for pid in labels if pid in index]
        adapted = clf.adapt([posts[index[pid]].text for pid in known],
                            [labels[pid] for pid in known], story.claim,
                            **({"embeddings": vectors[[index[pid] for pid in known]]}
                               if clf.encoder is not None and known else {}))
        predictions = adapted.predict(texts, story.claim,
                                      vectors if clf.encoder is not None else None)
        probs = np.array([[pred.scores.get(b, 0.0) for b in BUCKETS] for pred in predictions])
        done = [index[pid] for pid in known] + sorted(skipped)
        picks = pick_for_labeling(vectors, probs, done, min(batch, limit - stored))
        if not picks:
            break
        for i in picks:
            guess = BUCKETS[int(np.argmax(probs[i]))]
            reply = answer(posts[i], guess, float(probs[i].max()))
            if reply == "quit":
                return stored
            if reply is None:
                skipped.add(i)
                continue
            label = reply or guess
            store.add_label(story.slug, posts[i].id, label, source="human", labeller=labeller)
            labels[posts[i].id] = label
            stored += 1
    return stored


def run(args, *, ask=input) -> int:
    from nlp.stance import load_classifier
    from reactions.commands._common import open_store
    from reactions.config import get_settings

    store = open_store()
    story = store.get_story(args.story)
    from reactions.commands._common import progress_bar

    if getattr(args, "teacher", 0):
        return run_teacher(store, story, args.teacher)
    with progress_bar("loading the stance model"):
        clf = load_classifier(args.model or get_settings().stance_model,
                              review_below=get_settings().review_threshold)
    known = sum(1 for *_, source in store.labels(story.slug) if source == "human")
    print(f"{story.slug}: {story.claim}\n{known} labelled so far. "
          "Answer s(upporters), k (skeptics), n(eutral), Enter to accept the guess, "
          "x to skip, q to quit.")
    asked = [0]

    def answer_in_terminal(post, guess, confidence):
        while True:
            print(f"\n[{asked[0] + 1}/{args.limit}] {post.text}\n  guess: {guess} ({confidence:.0%})")
            try:
                reply = ask("  s/k/n/Enter/x/q > ").strip().lower()
            except EOFError:
                return "quit"
            if reply == "q":
                return "quit"
            if reply == "x":
                return None
            if reply == "" or reply[:1] in KEYS:
                asked[0] += 1
                return KEYS.get(reply[:1], "")
            print("  answer s, k, n, Enter, x or q")

    stored = label_loop(store, story, clf, args.limit, answer_in_terminal, labeller=args.labeller)
    if not stored and not store.posts(story.slug):
        print(f"{story.slug}: no posts to label")
        return 0
    total = sum(1 for *_, source in store.labels(story.slug) if source == "human")
    print(f"{story.slug}: {total} human labels; run `reactions classify {story.slug} --redo` "
          "to apply them to every post")
    return 0


def run_teacher(store, story, n: int, *, teacher=None) -> int:
    """Let the stance teacher (REACTIONS_TEACHER) label a random sample of n unlabelled posts,
    keeping its confident half, as the background step does."""
    from reactions.teach import teach_story

    result = teach_story(store, story, teacher, sample=n)
    if not result.asked:
        print(f"{story.slug}: too few unlabelled posts for the teacher to calibrate on")
        return 0
    print(f"{story.slug}: the teacher {result.teacher} labelled {result.stored} of "
          f"{result.asked} posts (its confident half); run `reactions classify {story.slug} "
          "--redo` to apply them to every post")
    return 0


def post_vectors(store, clf, posts):
    """Embeddings of the posts (stored ones reused, new ones stored); probabilities-free
    classifiers without an encoder get a stand-in of one-hot rows, so picking is by
    uncertainty alone."""
    import numpy as np

    if clf.encoder is None:
        return np.eye(len(posts), dtype=np.float32)
    stored = store.embeddings(clf.encoder.name, [p.id for p in posts])
    missing = [p for p in posts if p.id not in stored]
    if missing:
        fresh = dict(zip([p.id for p in missing], clf.encoder.encode([p.text for p in missing])))
        store.save_embeddings(clf.encoder.name, fresh)
        stored.update(fresh)
    return np.stack([stored[p.id] for p in posts]).astype(np.float32)
