"""Themes: clusters of posts making the same point, k from the data, phrases and representatives."""

import numpy as np
import pytest

from nlp.embed import DEFAULT_ENCODER
from nlp.themes import clean_phrase, extract_themes, projection_for
from tests.conftest import SHARED_DATA


def blobs(sizes, dim=32, spread=0.15, seed=0):
    """Unit vectors around one random centre per group (group i has sizes[i] members)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dim))
    rows, groups = [], []
    for g, n in enumerate(sizes):
        rows.append(centres[g] + spread * np.linalg.norm(centres[g]) / np.sqrt(dim)
                    * rng.normal(size=(n, dim)))
        groups += [g] * n
    vectors = np.concatenate(rows)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), np.array(groups)


@pytest.mark.parametrize("sizes", [(20, 15), (20, 15, 12, 10)])
def test_number_of_themes_comes_from_the_data(sizes):
    vectors, groups = blobs(sizes)
    texts = [f"point {g} post {i}" for i, g in enumerate(groups)]
    themes = extract_themes(texts, vectors, encoder="test")
    assert len(themes) == len(sizes)
    assert [t.size for t in themes] == sorted(sizes, reverse=True)
    for theme in themes:  # each theme is exactly one planted group
        assert len({groups[i] for i in theme.members}) == 1
        assert theme.size == len(theme.members)


def test_small_clusters_are_not_themes():
    vectors, groups = blobs((25, 20, 2))
    texts = [f"post {i}" for i in range(len(groups))]
    themes = extract_themes(texts, vectors, encoder="test")
    members = {i for t in themes for i in t.members}
    assert all(groups[i] != 2 for i in members)  # the two-post point is left out
    assert len(themes) == 2


def test_representatives_are_central_engaged_and_not_repeats():
    vectors, groups = blobs((12, 12), spread=0.6, seed=3)
    texts = [f"group {g} distinct post number {i}" for i, g in enumerate(groups)]
    # Post 1 repeats post 0 word for word (a repost): never both representatives.
    texts[1] = texts[0]
    vectors[1] = vectors[0]
    engagement = np.zeros(len(texts))
    engagement[5] = 10_000  # very engaged, so it is picked although others are as central
    themes = extract_themes(texts, vectors, engagement=engagement, encoder="test")
    theme = next(t for t in themes if 0 in t.members)
    assert not {0, 1} <= set(theme.representatives)
    assert 5 in theme.representatives
    assert len(theme.representatives) == 3


def test_phrase_is_a_clean_short_post():
    assert clean_phrase("@ana Finally! https://t.co/x The boats are gone. More later") == "Finally"
    long = " ".join(f"w{i}" for i in range(40))
    assert clean_phrase(long).endswith("...") and len(clean_phrase(long).split()) == 14
    vectors, _ = blobs((6,))
    themes = extract_themes(["@user see https://x.y the navy acts at last"] * 6, vectors,
                            encoder="test")
    assert themes[0].phrase == "see the navy acts at last"


def test_too_few_posts_give_no_theme():
    vectors, _ = blobs((2,))
    assert extract_themes(["a", "b"], vectors) == []


def test_projection_only_for_the_encoder_it_was_fitted_on():
    matrix = projection_for(DEFAULT_ENCODER, 384)
    assert matrix is not None and matrix.shape == (384, 32)
    assert projection_for("some/other-model", 384) is None
    assert projection_for(DEFAULT_ENCODER, 768) is None


@pytest.mark.skipif(not (SHARED_DATA / "keypoints" / "arguments_dev.csv").is_file(),
                    reason="ArgKP data not present in ../shared/data/keypoints")
def test_keypoints_gate_beats_both_baselines(capsys):
    """Quality floor: on ArgKP dev, ours beats one theme per stance, KMeans told k, and the
    extractor before the theme encoder (MiniLM + LDA), all scored in the same run."""
    import json

    from benchmarks.keypoints import main

    assert main(["--split", "dev"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["ours"] > result["baseline"] > result["baseline_one_theme"]
    assert result["ours"] > result["before_theme_encoder"]
    # measured 0.551 with the theme encoder trained in topic batches (0.517 in random
    # batches, 0.481 before the theme encoder); issue 16 asks for 0.52
    assert result["ours"] >= 0.53
