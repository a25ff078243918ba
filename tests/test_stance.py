"""The stance classifier's contract: shapes, probabilities, review flags, adaptation,
language gating, active learning, HF-style model folders and the train/eval commands.

Runs offline on a fresh clone: the packaged encoder and the shipped heads only.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from reactions.models import BUCKETS, UNCLASSIFIED, StancePrediction
from tests.test_stance_chat import openai_classifier

CLAIM = "The city should build the new stadium"
POSTS = [
    "Finally! The stadium will bring jobs and pride to our city. Build it now.",
    "A stadium is a waste of public money. Schools need it more. Vote no.",
    "The council meets on Tuesday at 7pm in the town hall.",
    "I fully support the new stadium, it is great news for our city.",
    "Stop the stadium. Taxpayers should not fund billionaires.",
    "Weather tomorrow: sunny with a high of 22 degrees.",
]
GOLD = ["supporters", "skeptics", "neutral", "supporters", "skeptics", "neutral"]


@pytest.fixture(scope="module")
def clf():
    from nlp.stance import load_classifier

    return load_classifier(None)


def test_default_classifier_contract(clf):
    assert isinstance(clf.name, str) and clf.name
    assert clf.languages == frozenset({"en"})
    assert clf.encoder is not None
    preds = clf.predict(POSTS, CLAIM)
    assert len(preds) == len(POSTS)
    for pred in preds:
        assert isinstance(pred, StancePrediction)
        assert pred.label in BUCKETS
        assert set(pred.scores) == set(BUCKETS)
        assert sum(pred.scores.values()) == pytest.approx(1.0, abs=1e-5)
        assert pred.label == max(pred.scores, key=pred.scores.get)


def test_precomputed_embeddings_give_the_same_answer(clf):
    vectors = clf.encoder.encode(POSTS)
    with_vectors = clf.predict(POSTS, CLAIM, embeddings=vectors)
    without = clf.predict(POSTS, CLAIM)
    for a, b in zip(with_vectors, without):
        assert a.label == b.label
        assert a.scores["supporters"] == pytest.approx(b.scores["supporters"], abs=1e-3)
    with pytest.raises(ValueError):
        clf.predict(POSTS, CLAIM, embeddings=vectors[:2])


def test_empty_input(clf):
    assert clf.predict([], CLAIM) == []


def test_low_confidence_needs_review(clf):
    strict = clf.adapt([], [], CLAIM)
    strict.review_below = 0.999
    for pred in strict.predict(POSTS, CLAIM):
        assert pred.needs_review and pred.reason.startswith("low confidence")
    strict.review_below = 0.0
    assert not any(p.needs_review for p in strict.predict(POSTS, CLAIM))


def test_language_and_empty_posts_are_unclassified_not_guessed(clf):
    preds = clf.predict(["Great stadium!", "¡Qué buen estadio!", "  "], CLAIM,
                        languages=["en", "es", "en"])
    assert preds[0].label in BUCKETS
    assert preds[1].label == UNCLASSIFIED and preds[1].reason == "language:es"
    assert preds[2].label == UNCLASSIFIED and preds[2].reason == "empty"
    assert preds[1].scores == {}


def test_adapt_learns_the_editors_labels_in_seconds(clf):
    started = time.perf_counter()
    adapted = clf.adapt(POSTS, GOLD, CLAIM, C=100.0)
    assert time.perf_counter() - started < 5
    assert [p.label for p in adapted.predict(POSTS, CLAIM)] == GOLD
    assert adapted.name.endswith("+labels")
    # The original is untouched, and other claims still use the general head.
    assert clf.targets.keys() != adapted.targets.keys()
    assert len(adapted.predict(POSTS, "Another claim")) == len(POSTS)


def test_adapt_reads_the_pair_models_view_of_the_claim(clf):
    from nlp.stance import target_key

    adapted = clf.adapt(POSTS[:4], GOLD[:4], CLAIM)
    head = adapted.targets[target_key(CLAIM)]
    assert head.inputs == "post+pair" and head.weight.shape == (2 * clf.encoder.dim, 3)
    vectors = clf.encoder.encode(POSTS)
    pair = clf.pair.features(POSTS, CLAIM)
    assert pair.shape == vectors.shape
    assert np.allclose(np.linalg.norm(pair, axis=1), 1.0, atol=1e-4)
    expected = clf.pair.logits(POSTS, CLAIM) + head.logits(np.hstack([vectors, pair]))
    assert np.allclose(adapted.logits(vectors, CLAIM, POSTS), expected, atol=1e-4)
    # Without the texts (embeddings only) the post half of the correction still applies.
    assert adapted.logits(vectors, CLAIM).shape == (len(POSTS), 3)
    # A second round of labels adds to the first rather than replacing it.
    again = adapted.adapt(POSTS[4:], GOLD[4:], CLAIM)
    assert again.targets[target_key(CLAIM)].inputs == "post+pair"
    assert [p.label for p in again.adapt(POSTS, GOLD, CLAIM, C=100.0).predict(POSTS, CLAIM)] \
        == GOLD


def test_adapt_accepts_label_aliases(clf):
    adapted = clf.adapt(POSTS[:3], ["favor", "against", "none"], CLAIM)
    assert len(adapted.predict(POSTS, CLAIM)) == len(POSTS)
    with pytest.raises(ValueError):
        clf.adapt(POSTS[:1], ["maybe"], CLAIM)


def test_many_labels_get_a_head_of_their_own(clf):
    texts = POSTS * 30
    adapted = clf.adapt(texts, GOLD * 30, CLAIM)
    from nlp.stance import target_key

    assert adapted.targets[target_key(CLAIM)].standalone
    assert [p.label for p in adapted.predict(POSTS, CLAIM)] == GOLD


def test_default_prior_for_a_new_claim_is_pair_model_times_general_head(clf):
    from nlp.stance.heads import pair_features, softmax

    assert clf.pair is not None
    logits = clf.pair.logits(POSTS, CLAIM)
    assert logits.shape == (len(POSTS), 3) and np.isfinite(logits).all()
    vectors = clf.encoder.encode(POSTS)
    general = clf.general.logits(pair_features(vectors, clf.claim_vectors(CLAIM)))
    product = softmax(logits) * softmax(general)
    expected = product / product.sum(1, keepdims=True)
    assert np.allclose(clf.predict_proba(POSTS, CLAIM), expected, atol=1e-4)
    # With embeddings only (no texts) the general head alone is the prior.
    assert np.allclose(clf.logits(vectors, CLAIM), general, atol=1e-5)
    # Once a story has labels, its correction is added to the pair model's logits.
    adapted = clf.adapt(POSTS[:2], GOLD[:2], CLAIM)
    head = adapted.targets[next(iter(set(adapted.targets) - set(clf.targets)))]
    features = np.hstack([vectors, clf.pair.features(POSTS, CLAIM)])
    assert np.allclose(adapted.logits(vectors, CLAIM, POSTS), logits + head.logits(features),
                       atol=1e-4)


def test_pair_model_trains_and_round_trips(tmp_path):
    import torch

    from nlp.stance.pair import PairModel, offtopic_negatives

    claims, texts = [CLAIM] * len(POSTS), list(POSTS)
    own = dict(zip(texts + ["I love my cat"], claims + ["Cats are great"]))
    none_claims, none_texts = offtopic_negatives(list(own.values()), list(own), 0.5)
    assert len(none_texts) == 3
    assert all(claim != own[text] for claim, text in zip(none_claims, none_texts))
    model = PairModel(top_layers=1).fit(claims, texts, bucket_ids(GOLD), epochs=1)
    meta = model.save(tmp_path)
    loaded = PairModel.load(tmp_path, meta)
    assert (tmp_path / meta["file"]).stat().st_size < 4_000_000  # one layer in fp16
    a, b = model.logits(POSTS, CLAIM), loaded.logits(POSTS, CLAIM)
    assert np.allclose(a, b, atol=0.1)  # stored in fp16
    # Scoring may hold the weights in bf16; saving again still writes the fp16 state.
    again = loaded.state()
    assert set(again) == set(model.state())
    assert all(np.array_equal(again[k].numpy(), v.numpy()) for k, v in model.state().items())
    # Training after bf16 scoring starts from the stored weights, not their bf16 rounding:
    # with a learning rate of 0 the state is unchanged to the last bit.
    loaded.dtype = "bfloat16"
    loaded.logits(POSTS, CLAIM)
    assert loaded.model.dtype == torch.bfloat16
    loaded.fit([CLAIM] * 2, POSTS[:2], bucket_ids(GOLD[:2]), epochs=1, lr=0.0)
    assert all(np.array_equal(loaded.state()[k].numpy(), v.numpy())
               for k, v in model.state().items())
    # Two steps (the first is the warm-up's, at a learning rate of 0) do train.
    loaded.fit([CLAIM] * 2, POSTS[:2], bucket_ids(GOLD[:2]), epochs=2, batch_size=1)
    assert not all(np.array_equal(loaded.state()[k].numpy(), v.numpy())
                   for k, v in model.state().items())


def tiny_mpnet(folder):
    """A random two-layer MPNet with the packaged tokenizer, saved to `folder`."""
    import torch
    from transformers import AutoTokenizer, MPNetConfig, MPNetModel

    from nlp.embed import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(None))
    # Large initial weights, so that attention (and its position bias) moves the output.
    config = MPNetConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=2, intermediate_size=64, pad_token_id=0,
                         initializer_range=0.5)
    torch.manual_seed(0)
    tiny = MPNetModel(config, add_pooling_layer=False)
    with torch.no_grad():  # a bias strong enough that leaving it out shows
        tiny.encoder.relative_attention_bias.weight.normal_(0.0, 3.0)
    tiny.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("kind", ["bert", "mpnet"])
def test_pair_model_trains_on_what_it_scores(kind, tmp_path):
    """Training runs the frozen and trained layers one by one; scoring runs the whole model.
    Both must compute the same thing, MPNet's relative position bias included (a layer
    called without it silently attends as if word order did not exist)."""
    import torch

    from nlp.stance.pair import PairModel

    base = tiny_mpnet(tmp_path) if kind == "mpnet" else None
    model = PairModel(base=base, top_layers=1, dtype="float32")
    claims = [CLAIM] * len(POSTS)
    states = model._frozen_states(claims, POSTS)
    with torch.no_grad():
        trained = model._top_logits(states).numpy()
    scored = model.pair_logits(list(zip(claims, POSTS)))
    # The frozen layers' output is kept in bf16, so the two agree to bf16 rounding.
    assert np.abs(trained - scored).max() < 0.025 * max(1.0, np.abs(scored).max())


def test_a_pair_model_on_another_encoder_names_it_in_its_folder(tmp_path):
    from nlp.stance.pair import PairModel

    base = tiny_mpnet(tmp_path / "encoder")
    model = PairModel(base=base, top_layers=1).fit([CLAIM] * 6, POSTS[:6], bucket_ids(GOLD[:6]),
                                                   epochs=1)
    (tmp_path / "stance").mkdir()
    meta = model.save(tmp_path / "stance")
    assert meta["base"] == base
    loaded = PairModel.load(tmp_path / "stance", meta)
    assert type(loaded.model).__name__ == "MPNetModel"
    assert np.allclose(model.logits(POSTS, CLAIM), loaded.logits(POSTS, CLAIM), atol=0.1)
    gone = {**meta, "base": str(tmp_path / "moved")}
    with pytest.raises(FileNotFoundError, match="not on this machine"):
        PairModel.load(tmp_path / "stance", gone)


def test_a_distilled_pair_model_learns_the_teacher(tmp_path):
    """With only the teacher teaching (distil=1), the student follows the teacher's answer,
    even on pairs that have no label (-1); labels it never saw cannot pull it elsewhere."""
    from nlp.stance.pair import PairModel

    claims, texts = [CLAIM] * len(POSTS), list(POSTS)
    labels = np.full(len(texts), -1)
    with pytest.raises(ValueError, match="teacher"):
        PairModel(top_layers=1).fit(claims, texts, labels, epochs=1)
    teacher = np.tile(np.array([[-4.0, -4.0, 4.0]], dtype=np.float32), (len(texts), 1))
    labels[:3] = 0  # a few labels that disagree with the teacher, weighted 0 at distil=1
    model = PairModel(top_layers=1).fit(claims, texts, labels, epochs=3, lr=1e-3,
                                        teacher=teacher, distil=1.0)
    assert (model.logits(texts, CLAIM).argmax(1) == 2).all()
    # The same pairs with the labels alone learn the labels' class instead.
    hard = PairModel(top_layers=1).fit(claims[:3] * 3, texts[:3] * 3, np.zeros(9, dtype=np.int64),
                                       epochs=3, lr=1e-3)
    assert (hard.logits(texts[:3], CLAIM).argmax(1) == 0).all()


def bucket_ids(labels):
    from nlp.stance import bucket_index

    return bucket_index(labels)


def test_active_learning_picks_new_spread_out_posts():
    from nlp.stance.heads import pick_for_labeling

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    probs = np.full((50, 3), 1 / 3)
    probs[:25] = [0.98, 0.01, 0.01]
    first = pick_for_labeling(vectors, probs, [], 6)
    assert len(set(first)) == 6
    later = pick_for_labeling(vectors, probs, first, 5)
    assert len(set(later)) == 5 and not set(later) & set(first)
    # Past the seed round, uncertain posts come first.
    assert all(i >= 25 for i in later)


def test_save_and_load_round_trip(clf, tmp_path):
    from nlp.stance import load_classifier

    adapted = clf.adapt(POSTS, GOLD, CLAIM, C=100.0)
    adapted.save(tmp_path / "model")
    loaded = load_classifier(str(tmp_path / "model"))
    a = adapted.predict_proba(POSTS, CLAIM)
    b = loaded.predict_proba(POSTS, CLAIM)
    assert np.allclose(a, b, atol=0.02)  # heads are stored in fp16


def _tiny_hf_model(path, id2label):
    """A randomly initialised 2-layer BERT classifier with the packaged MiniLM tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from nlp.embed import packaged_model_path

    tokenizer = AutoTokenizer.from_pretrained(str(packaged_model_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, num_labels=3,
                        id2label=id2label, label2id={v: k for k, v in id2label.items()})
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def test_hf_stance_model_folder(tmp_path):
    from nlp.stance import TransformersStanceClassifier, load_classifier

    path = _tiny_hf_model(tmp_path / "stance", {0: "AGAINST", 1: "FAVOR", 2: "NONE"})
    clf = load_classifier(path)
    assert isinstance(clf, TransformersStanceClassifier) and not clf.nli
    assert clf.encoder is None
    preds = clf.predict(POSTS, CLAIM)
    assert len(preds) == len(POSTS)
    assert all(sum(p.scores.values()) == pytest.approx(1.0, abs=1e-5) for p in preds)
    adapted = clf.adapt(POSTS, GOLD, CLAIM)
    assert len(adapted.predict(POSTS, CLAIM)) == len(POSTS)


def test_hf_nli_model_folder_uses_one_pair_per_post(tmp_path, monkeypatch):
    from nlp.stance import load_classifier

    path = _tiny_hf_model(tmp_path / "nli", {0: "contradiction", 1: "neutral", 2: "entailment"})
    clf = load_classifier(path)
    assert clf.nli
    assert list(clf.columns) == [1, 2, 0]  # contradiction->skeptics, neutral, entailment->supporters
    calls = []
    forward = clf.model.forward
    monkeypatch.setattr(clf.model, "forward", lambda **kw: calls.append(kw["input_ids"].shape[0])
                        or forward(**kw))
    clf.batch_size = 4
    clf.predict(POSTS, CLAIM)
    assert sum(calls) == len(POSTS)


def test_hf_model_with_unknown_labels_is_a_clear_error(tmp_path):
    from nlp.stance import load_classifier

    path = _tiny_hf_model(tmp_path / "odd", {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    with pytest.raises(ValueError, match="label_map"):
        load_classifier(path)
    clf = load_classifier(path, label_map={"LABEL_0": "skeptics", "LABEL_1": "neutral",
                                           "LABEL_2": "supporters"})
    assert len(clf.predict(POSTS[:2], CLAIM)) == 2


def training_csv(tmp_path, repeats):
    """A target,text,label CSV: the sample posts with their gold labels, `repeats` times."""
    rows = ["target,text,label"]
    for i in range(repeats):
        for text, label in zip(POSTS, GOLD):
            rows.append(f'"{CLAIM}","{text} #{i}",{label}')
    data = tmp_path / "train.csv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return data


def test_train_and_eval_commands(tmp_path, capsys):
    from reactions.cli import main

    data = training_csv(tmp_path, repeats=8)
    out = tmp_path / "model"
    assert main(["train-stance", "--data", str(data), "--out", str(out),
                 "--min-target-rows", "10"]) == 0
    assert (out / "stance.json").is_file() and (out / "heads.npz").is_file()
    capsys.readouterr()
    assert main(["eval-stance", "--data", str(data), "--model", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result) >= {"F_avg", "macro_f1", "accuracy", "n", "per_target"}
    assert result["n"] == 48 and result["accuracy"] > 90  # scored on its training rows here
    assert main(["eval-stance", "--data", str(data), "--labels-per-target", "6",
                 "--strategy", "random", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == 42


def test_train_stance_can_fine_tune_a_pair_model(tmp_path, capsys):
    from nlp.stance import load_classifier
    from reactions.cli import main

    data = training_csv(tmp_path, repeats=4)
    out = tmp_path / "model"
    assert main(["train-stance", "--data", str(data), "--out", str(out), "--pair"]) == 0
    meta = json.loads((out / "stance.json").read_text(encoding="utf-8"))
    assert meta["pair"]["file"] == "pair.safetensors" and (out / "pair.safetensors").is_file()
    trained = load_classifier(str(out))
    assert trained.pair is not None
    from nlp.stance.heads import pair_features

    vectors = trained.encoder.encode(POSTS)
    general = trained.general.logits(pair_features(vectors, trained.claim_vectors("Other")))
    product = softmax_of(trained.pair.logits(POSTS, "Other")) * softmax_of(general)
    assert np.allclose(trained.predict_proba(POSTS, "Other"),
                       product / product.sum(1, keepdims=True), atol=1e-4)
    assert "pair model" in capsys.readouterr().out
    assert main(["train-stance", "--data", str(data), "--out", str(tmp_path / "x"), "--pair",
                 "--base", "some/model"]) == 2


def softmax_of(logits):
    from nlp.stance.heads import softmax

    return softmax(logits)


def test_label_loop_stores_human_labels(sqlite_store, monkeypatch, capsys):
    import argparse

    from reactions.commands import label
    from reactions.models import Post, Story

    story = Story(slug="stadium", title="Stadium", claim=CLAIM, queries=["stadium"])
    sqlite_store.save_story(story)
    sqlite_store.upsert_posts(story.slug, [Post("test", str(i), text) for i, text in enumerate(POSTS)])
    monkeypatch.setattr("reactions.commands._common.open_store", lambda settings=None: sqlite_store)
    answers = iter(["s", "k", "", "x", "q"])
    args = argparse.Namespace(story="stadium", limit=5, model=None, labeller="ed")
    assert label.run(args, ask=lambda prompt: next(answers)) == 0
    stored = sqlite_store.labels("stadium")
    assert len(stored) == 3 and {s for *_, s in stored} == {"human"}
    assert stored[0][2] == "supporters" and stored[1][2] == "skeptics"


def test_review_threshold_can_be_set_when_loading():
    from nlp.stance import load_classifier

    assert load_classifier(None, review_below=0.7).review_below == 0.7


@pytest.fixture(scope="module")
def backends(tmp_path_factory):
    """One classifier per backend of nlp.stance.BACKENDS: the shipped default, a train-stance
    folder, and tiny random Hugging Face stance and NLI models (no weights offline)."""
    from nlp.stance import BACKENDS, load_classifier
    from nlp.stance.train import StanceRows, train

    tmp = tmp_path_factory.mktemp("backends")
    rows = StanceRows([CLAIM] * len(POSTS) * 3, POSTS * 3,
                      np.array([BUCKETS.index(g) for g in GOLD] * 3))
    folder = tmp / "folder"
    train(rows, min_target_rows=10).save(folder)
    out = {
        "default": load_classifier(None),
        "folder": load_classifier(str(folder)),
        "hf": load_classifier(_tiny_hf_model(tmp / "hf", {0: "AGAINST", 1: "FAVOR", 2: "NONE"})),
        "nli": load_classifier("nli:" + _tiny_hf_model(
            tmp / "nli", {0: "contradiction", 1: "neutral", 2: "entailment"})),
        "chat": openai_classifier(),
        "chat-local": load_classifier("chat-local:" + _tiny_causal_lm(tmp / "lm")),
    }
    assert set(out) == set(BACKENDS)
    return out


def _tiny_causal_lm(path):
    """A randomly initialised 2-layer GPT-2 with the packaged MiniLM tokenizer (no chat
    template: the scorer falls back to plain text)."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from nlp.embed import packaged_model_path

    tokenizer = AutoTokenizer.from_pretrained(str(packaged_model_path()))
    config = GPT2Config(vocab_size=tokenizer.vocab_size, n_embd=32, n_layer=2, n_head=2,
                        n_positions=512)
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


ALL_BACKENDS = ["default", "folder", "hf", "nli", "chat", "chat-local"]


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_every_backend_keeps_the_stance_contract(backends, backend):
    from nlp.stance import StanceModel
    from nlp.stance.train import StanceRows, evaluate

    clf = backends[backend]
    assert isinstance(clf, StanceModel) and clf.name and "en" in clf.languages
    probs = clf.predict_proba(POSTS, CLAIM)
    assert probs.shape == (len(POSTS), 3) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    preds = clf.predict(POSTS[:2] + ["  ", "Quin estadi!"], CLAIM,
                        languages=["en", "en", "en", "ca"])
    assert [p.label in BUCKETS for p in preds[:2]] == [True, True]
    assert (preds[2].label, preds[2].reason) == (UNCLASSIFIED, "empty")
    assert (preds[3].label, preds[3].reason) == (UNCLASSIFIED, "language:ca")
    adapted = clf.adapt(POSTS, GOLD, CLAIM)
    assert isinstance(adapted, StanceModel) and adapted.name.endswith("+labels")
    # eval-stance scores any backend with no labels.
    rows = StanceRows([CLAIM] * len(POSTS), POSTS, np.array([BUCKETS.index(g) for g in GOLD]))
    assert evaluate(clf, rows)["n"] == len(POSTS)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_the_simulated_editor_works_on_every_backend(backends, backend):
    from nlp.stance.train import StanceRows, evaluate

    rows = StanceRows([CLAIM] * len(POSTS), POSTS, np.array([BUCKETS.index(g) for g in GOLD]))
    for strategy in ("active", "random"):
        result = evaluate(backends[backend], rows, labels_per_target=2, strategy=strategy)
        assert result["n"] == len(POSTS) - 2  # the editor's rows are not scored
