"""Quality floors for the stance classifier, on real data in ../shared/data.

Every floor is scored on rows that the scored model never trained on: the SemEval
validation split, SemEval targets held out in turn, and VAST topics held out by fold.
Floors sit slightly below what was measured (see docs/stance.md); lowering
one is a decision to write down, not a fix. Skipped where ../shared/data is absent.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SHARED_DATA

STANCE = SHARED_DATA / "stance"
KEYPOINTS = SHARED_DATA / "keypoints"
pytestmark = pytest.mark.skipif(
    not (STANCE / "semeval2016_train.csv").is_file(),
    reason=f"no stance data at {STANCE} (the shared data sets are not in a fresh clone)",
)


@pytest.fixture(scope="module")
def data():
    from nlp.stance.train import read_rows

    return {
        "train": read_rows([STANCE / "semeval2016_train.csv"]),
        "val": read_rows([STANCE / "semeval2016_val.csv"]),
        "vast": read_rows([STANCE / "vast_dev.csv"]),
        "kp": read_rows([KEYPOINTS / "arguments_train.csv", KEYPOINTS / "arguments_dev.csv"]),
    }


@pytest.fixture(scope="module")
def encoder():
    """The default encoder with a per-module memo, so each text is embedded once."""
    from nlp.embed import MemoEncoder, load_encoder

    return MemoEncoder(load_encoder(None))


def assert_floor(result, F_avg, macro_f1, what):
    print(what, {k: v for k, v in result.items() if k != "per_target"})
    got = f"{what}: F_avg {result['F_avg']}, macro-F1 {result['macro_f1']}"
    assert result["F_avg"] >= F_avg and result["macro_f1"] >= macro_f1, got


def test_shipped_default_on_semeval_val(data):
    """The packaged heads were trained on SemEval train (+VAST, key points), never on val."""
    from nlp.stance import load_classifier
    from nlp.stance.train import evaluate

    result = evaluate(load_classifier(None), data["val"])
    assert_floor(result, 71.0, 71.0, "default on SemEval val")  # measured 72.8 / 73.3


@pytest.mark.slow
def test_many_labels_semeval_train_to_val(data, encoder):
    from nlp.stance.train import evaluate, train

    clf = train(data["train"], encoder=encoder)
    result = evaluate(clf, data["val"])
    assert_floor(result, 71.0, 71.0, "many labels")  # measured 72.6 / 72.9


@pytest.fixture(scope="module")
def held_out(data, encoder):
    """Per SemEval target: a general model trained without it, and its rows (train + val)."""
    from nlp.stance.train import Embedded, StanceRows, train

    semeval = StanceRows.concat([data["train"], data["val"]])
    out = {}
    for target in sorted(set(semeval.targets)):
        mask = np.array([t == target for t in semeval.targets])
        rows = semeval.subset(mask)
        clf = train(StanceRows.concat([semeval.subset(~mask), data["vast"], data["kp"]]),
                    encoder=encoder, min_target_rows=10**9)
        assert target.lower() not in clf.targets
        out[target] = (clf, rows, Embedded(rows, encoder))
    return out


def pooled(results):
    from nlp.stance.train import scores

    y_true = np.concatenate([r[0] for r in results])
    y_pred = np.concatenate([r[1] for r in results])
    return scores(y_true, y_pred)


@pytest.mark.slow
def test_cold_start_on_held_out_semeval_targets(held_out):
    results = []
    for clf, rows, embedded in held_out.values():
        results.append((rows.labels, np.argmax(clf.logits(embedded.X, rows.targets[0]), 1)))
    assert_floor(pooled(results), COLD_F_AVG, COLD_MACRO, "cold start, held-out targets")


@pytest.fixture(scope="module")
def vast_folds(data):
    """VAST dev in 5 folds grouped by topic: (seen, unseen) row indices."""
    from sklearn.model_selection import GroupKFold

    vast = data["vast"]
    return list(GroupKFold(5).split(np.zeros(len(vast)), vast.labels, vast.targets))


@pytest.mark.slow
def test_cold_start_on_held_out_vast_topics(data, encoder, vast_folds, pair_without_vast_fold0):
    """The general head on all 5 folds; the default prior (with the pair model, which is
    trained without fold 0's topics) on fold 0."""
    import copy

    from nlp.stance.train import Embedded, StanceRows, scores, train

    vast = data["vast"]
    X = Embedded(vast, encoder).X
    pred = np.zeros(len(vast), dtype=np.int64)
    for fold, (seen, unseen) in enumerate(vast_folds):
        clf = train(StanceRows.concat([data["train"], vast.subset(seen), data["kp"]]),
                    encoder=encoder, min_target_rows=10**9)
        if fold == 0:
            default = copy.copy(clf)
            default.pair = pair_without_vast_fold0
        for target in set(vast.targets[i] for i in unseen):
            idx = [i for i in unseen if vast.targets[i] == target]
            pred[idx] = np.argmax(clf.logits(X[idx], target), 1)
    result = scores(vast.labels, pred)
    print("VAST by topic, general head", result)
    assert result["macro_f1"] >= VAST_MACRO, f"VAST by topic: {result}"
    unseen = vast_folds[0][1]
    fold0 = np.zeros(len(unseen), dtype=np.int64)
    for target in set(vast.targets[i] for i in unseen):
        pos = [j for j, i in enumerate(unseen) if vast.targets[i] == target]
        rows = [unseen[j] for j in pos]
        fold0[pos] = np.argmax(default.logits(X[rows], target, [vast.texts[i] for i in rows]), 1)
    result = scores(vast.labels[unseen], fold0)
    print("VAST fold 0, default prior", result)
    assert result["macro_f1"] >= VAST_DEFAULT_FOLD0_MACRO, f"VAST fold 0: {result}"


@pytest.mark.slow
def test_few_labels_active_and_random(held_out):
    from nlp.stance.train import evaluate

    active, random = [], []
    for clf, rows, embedded in held_out.values():
        active.append(evaluate(clf, rows, labels_per_target=24, strategy="active",
                               embedded=embedded))
        random.append([evaluate(clf, rows, labels_per_target=24, strategy="random", seed=seed,
                                embedded=embedded) for seed in range(3)])
    mean = lambda values: float(np.mean(values))  # noqa: E731
    active_f = mean([r["F_avg"] for r in active])
    active_m = mean([r["macro_f1"] for r in active])
    random_f = mean([r["F_avg"] for runs in random for r in runs])
    print("few labels", {"active": (active_f, active_m), "random": (random_f, mean(
        [r["macro_f1"] for runs in random for r in runs])), "active per target": [
        (r["F_avg"], r["macro_f1"]) for r in active]})
    assert active_f >= FEW_F_AVG and active_m >= FEW_MACRO, (active_f, active_m)
    assert active_f >= random_f + FEW_ACTIVE_MARGIN, (active_f, random_f)


@pytest.fixture(scope="module")
def pair_without_semeval(data):
    """The default's pair model by its recipe, trained on VAST and the key points only: every
    SemEval row is an unseen target for it (about 4 minutes on 2 cores)."""
    from nlp.stance.pair import train_pair

    return train_pair(data["vast"], data["kp"])


@pytest.fixture(scope="module")
def pair_without_vast_fold0(data, vast_folds):
    """The pair model trained as the default's is (SemEval train, VAST, key points) but
    without VAST fold 0's topics, which it is scored on."""
    from nlp.stance.pair import train_pair
    from nlp.stance.train import StanceRows

    seen = data["vast"].subset(vast_folds[0][0])
    return train_pair(StanceRows.concat([data["train"], seen]), data["kp"])


@pytest.fixture(scope="module")
def default_held_out(held_out, pair_without_semeval):
    """Per SemEval target, the default's design with nothing of that target in training: the
    general head trained without it, the pair model trained without any SemEval target."""
    import copy

    out = {}
    for target, (clf, rows, embedded) in held_out.items():
        with_pair = copy.copy(clf)
        with_pair.pair = pair_without_semeval
        out[target] = (with_pair, rows, embedded)
    return out


@pytest.mark.slow
def test_cold_start_default_prior_on_unseen_semeval_targets(default_held_out):
    """The no-labels prior (pair model x general head), and the pair model alone."""
    prior, pair_only = [], []
    for clf, rows, embedded in default_held_out.values():
        target = rows.targets[0]
        prior.append((rows.labels, np.argmax(clf.logits(embedded.X, target, rows.texts), 1)))
        pair_only.append((rows.labels, np.argmax(clf.pair.logits(rows.texts, target), 1)))
    assert_floor(pooled(pair_only), PAIR_F_AVG, PAIR_MACRO, "cold start, pair model alone")
    assert_floor(pooled(prior), PRIOR_F_AVG, PRIOR_MACRO, "cold start, default prior")


def editor_runs(held, strategy, seed=0, n=24):
    """Per target: an editor labels n posts (gold answers), the classifier adapts, the rest is
    scored. Returns (pooled scores over all targets' scored rows, per-target scores)."""
    from nlp.stance.train import scores, simulate_editor

    results, per_target = [], []
    for clf, rows, embedded in held.values():
        target = rows.targets[0]
        model, asked = simulate_editor(clf, embedded.X, rows.labels, target, n, strategy,
                                       seed=seed, texts=rows.texts)
        keep = np.ones(len(rows), dtype=bool)
        keep[asked] = False
        texts = [t for t, k in zip(rows.texts, keep) if k]
        pred = np.argmax(model.logits(embedded.X[keep], target, texts), 1)
        results.append((rows.labels[keep], pred))
        per_target.append(scores(rows.labels[keep], pred))
    return pooled(results), per_target


@pytest.mark.slow
def test_few_labels_on_the_default_design(default_held_out):
    active, per_target = editor_runs(default_held_out, "active")
    f_mean = float(np.mean([r["F_avg"] for r in per_target]))
    m_mean = float(np.mean([r["macro_f1"] for r in per_target]))
    random = [editor_runs(default_held_out, "random", seed)[0] for seed in range(3)]
    random_f = float(np.mean([r["F_avg"] for r in random]))
    print("few labels, default design", active, "mean per target", (f_mean, m_mean),
          "random", random)
    assert_floor(active, PAIR_FEW_POOLED_F_AVG, PAIR_FEW_POOLED_MACRO, "few labels, pooled")
    assert f_mean >= PAIR_FEW_F_AVG and m_mean >= PAIR_FEW_MACRO, (f_mean, m_mean)
    assert active["F_avg"] >= random_f + FEW_ACTIVE_MARGIN, (active["F_avg"], random_f)


# Floors, slightly below the measured figures (docs/stance.md, "Quality").
# The targets (55/50 cold, 60 VAST, 62/58 few labels) are not reached yet.
COLD_F_AVG, COLD_MACRO = 40.0, 44.0  # measured 41.9 / 46.3 pooled over the 5 targets
VAST_MACRO = 54.0  # measured 56.1 (F_avg 46.9)
# The default prior on VAST fold 0's topics, pair model trained on SemEval train + the other
# folds + key points: two runs 65.2 and 65.7 (F_avg 57.9, 58.8). All 5 folds, one run:
# 62.1 (the pair model alone 63.4).
VAST_DEFAULT_FOLD0_MACRO = 62.0
FEW_F_AVG, FEW_MACRO = 47.0, 49.0  # measured 49.0 / 51.1, mean over targets, 24 active labels
# (asked 4 at a time); one at a time, as `reactions label` asks, on a later machine: 48.4 / 50.5,
# and 49.1 / 51.5 with the correction's penalty at 30
FEW_ACTIVE_MARGIN = 1.0  # active must beat random by a point; measured 49.0 vs 45.4 F_avg (49.1 vs 45.1)
# The default's pair model (nlp/stance/pair.py), trained without any SemEval target.
# Training varies from run to run (thread timing): 5 runs measured F_avg 43.1-51.1, macro-F1
# 45.6-50.8 (mean 47.0 / 48.6), so the floor sits below the lowest run.
PAIR_F_AVG, PAIR_MACRO = 42.0, 44.5
# The no-labels prior, that pair model x the general head trained without the target:
# two runs measured 47.1 / 51.2 and 47.0 / 51.1 (the pair model alone 43.4 / 45.7 and
# 47.2 / 47.9 in those runs: the product is much steadier than the pair model).
# A later machine, seeds 0, 1, 2: 49.3 / 52.8, 47.5 / 52.2, 48.1 / 51.9 (the fixture uses seed 0).
PRIOR_F_AVG, PRIOR_MACRO = 45.0, 49.0
# Few labels on the default design (24 active labels per target, corrections read the post
# embedding and the pair model's vector), two runs: pooled over rows 61.4 / 60.1 and
# 61.5 / 60.4; mean over targets 52.7 / 53.9 and 51.3 / 53.1. The per-target floors date
# from the previous design (three runs 49.6-52.4) and stay. A later machine, seeds 0, 1, 2:
# pooled 61.4 / 60.2, 58.6 / 58.1, 60.0 / 58.9; mean over targets 51.2, 47.8, 50.8 F_avg.
# The editor now asks one label at a time (it was 4): on the latest machine, seed 0, pooled
# 61.6 / 60.1, mean over targets 52.9 / 53.8 (the same pair models scored 61.8 and 60.4 one at
# a time against 59.6 and 61.2 four at a time, seeds 0 and 1).
# With the correction's penalty re-chosen on the key-point dev topics (C=30, was 10), one label
# at a time: this test 64.2 / 62.3 pooled, mean over targets 55.4 / 55.4; replayed on seeds 0,
# 1, 2 of the pair model: pooled 63.2 / 61.8, 60.3 / 59.9, 63.4 / 62.2 (61.8, 60.4, 62.1 F_avg
# at C=10), mean over targets 55.6, 49.4, 54.3 F_avg. The pooled floor went up from 59 / 58.
# train_pair now seeds the head's initial weights too (they came from the process's
# generator): this test then measured pooled 61.9 / 60.3, mean over targets 54.0 / 54.8,
# random 55.3 F_avg; the prior 46.9 / 51.0, the pair model alone 45.7 / 46.6, VAST fold 0 63.1.
PAIR_FEW_F_AVG, PAIR_FEW_MACRO = 48.0, 50.0
PAIR_FEW_POOLED_F_AVG, PAIR_FEW_POOLED_MACRO = 61.0, 59.5


# -- Stance v2: the general and multilingual models (measured, not shipped) -----------------
# Figures live in one file, nlp/weights/stance/quality.json, written by the measuring runs
# (python -m nlp.stance.general --loo, python -m nlp.stance.multilingual --eval). Neither
# model beat what ships (the table takes ~40,000 texts to embed, 15-20 minutes here), so
# they are recorded, not shipped, and not re-run here. These tests pin what the shipped
# default scores on data it never trained on: the demo story and a research-only set.

EXTRA = STANCE / "extra"


def quality():
    import json

    from nlp.stance import DEFAULT_DIR

    return json.loads((DEFAULT_DIR / "quality.json").read_text(encoding="utf-8"))


def test_quality_file_records_each_held_out_set_and_both_baselines():
    table = quality()["leave_one_data_set_out"]["table"]
    for name in ("semeval2016", "covid19", "pstance", "multitarget", "vast_dev", "demo"):
        for model in ("ours", "frozen_lr", "default"):
            assert {"F_avg", "macro_f1", "accuracy", "n"} <= set(table[name][model]), (name, model)


@pytest.mark.slow
def test_shipped_default_on_the_demo_story_with_no_labels():
    """`demo --editor-labels 0`: the no-labels prior on the sample's posts, tagged by
    language as the pipeline tags them: the 10 Spanish ones stay unclassified (language:es),
    the 199 English ones are scored against the team's labels."""
    from nlp.stance import load_classifier
    from nlp.stance.general import demo_rows
    from nlp.stance.train import scores
    from reactions.models import BUCKETS, UNCLASSIFIED

    rows, languages = demo_rows(english_only=False)
    preds = load_classifier(None).predict(rows.texts, rows.targets[0], languages=languages)
    english = [i for i, lang in enumerate(languages) if lang in (None, "en")]
    assert all(preds[i].reason == "language:es" and preds[i].label == UNCLASSIFIED
               for i in range(len(preds)) if i not in english)
    result = scores(rows.labels[english], np.array([BUCKETS.index(preds[i].label) for i in english]))
    print("demo, no labels", result)
    assert result["accuracy"] >= DEMO_ACCURACY and result["macro_f1"] >= DEMO_MACRO, result


@pytest.mark.skipif(not (EXTRA / "election2020_biden_kawintiranon.csv").is_file(),
                    reason="no extra stance data")
@pytest.mark.slow
def test_shipped_default_on_a_set_it_never_trained_on():
    """Kawintiranon's Biden tweets are research-only: evaluated, never trained on."""
    from nlp.stance import load_classifier
    from nlp.stance.train import evaluate, read_rows

    result = evaluate(load_classifier(None), read_rows([EXTRA / "election2020_biden_kawintiranon.csv"]))
    assert_floor(result, BIDEN_F_AVG, BIDEN_MACRO, "election-2020 Biden, never trained on")


# The default on the demo story's 199 English posts, no labels: 37.7 / 35.9 (accuracy /
# macro-F1, the "demo" row of quality.json), far from the 60 / 55.
DEMO_ACCURACY, DEMO_MACRO = 35.0, 33.0
# The default on Kawintiranon's 663 Biden tweets (research-only, never trained on): 26.1 / 35.7.
BIDEN_F_AVG, BIDEN_MACRO = 24.0, 33.0


def test_docs_table_is_the_quality_file():
    """docs/stance.md shows the figures of quality.json, not a stale copy."""
    from nlp.stance.general import quality_table
    from tests.conftest import ROOT

    assert quality_table(quality()) in (ROOT / "docs" / "stance.md").read_text(encoding="utf-8")


def test_docs_pair_table_is_the_quality_file():
    from nlp.stance.general import pair_table
    from tests.conftest import ROOT

    assert pair_table(quality()) in (ROOT / "docs" / "stance.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_many_labels_beat_frozen_lr_in_the_same_run(data, encoder):
    """Per-target heads (penalty by cross-validation on the training rows only) against a
    plain logistic regression per target on the same frozen MiniLM embeddings, SemEval
    train -> val, in one run. Measured: 72.8 / 73.3 against 66.6 / 68.3 (F_avg / macro-F1);
    a class-balanced logistic regression scored 72.2 / 73.4, level with the heads."""
    from sklearn.linear_model import LogisticRegression

    from nlp.stance.train import Embedded, evaluate, scores, train

    train_rows, val = data["train"], data["val"]
    ours = evaluate(train(train_rows, encoder=encoder), val, embedded=Embedded(val, encoder))
    X_train, X_val = encoder.encode(train_rows.texts), encoder.encode(val.texts)
    y_true, y_pred = [], []
    for target in sorted(set(train_rows.targets)):
        a = [i for i, t in enumerate(train_rows.targets) if t == target]
        b = [i for i, t in enumerate(val.targets) if t == target]
        model = LogisticRegression(max_iter=1000).fit(X_train[a], train_rows.labels[a])
        y_true.append(val.labels[b])
        y_pred.append(model.predict(X_val[b]))
    baseline = scores(np.concatenate(y_true), np.concatenate(y_pred))
    print("many labels", ours["F_avg"], ours["macro_f1"], "frozen+LR", baseline)
    assert ours["F_avg"] >= baseline["F_avg"] + 3 and ours["macro_f1"] >= baseline["macro_f1"] + 2


def test_docs_spanish_pair_table_is_the_quality_file():
    from nlp.stance.general import spanish_pair_table
    from tests.conftest import ROOT

    assert spanish_pair_table(quality()) in (ROOT / "docs" / "stance.md").read_text(encoding="utf-8")


def test_docs_larger_reader_tables_are_the_quality_file():
    from nlp.stance.general import every_layer_table, larger_reader_tables
    from tests.conftest import ROOT

    docs = (ROOT / "docs" / "stance.md").read_text(encoding="utf-8")
    assert larger_reader_tables(quality()) in docs
    assert every_layer_table(quality()) in docs
