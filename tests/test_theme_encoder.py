"""The theme encoder: trained top layers that bring posts making one point together."""

import numpy as np
import pytest

import nlp.theme_encoder as theme_encoder
import nlp.themes as themes
from nlp.embed import DEFAULT_ENCODER

POINTS = {
    0: ("Cannabis should be legal because prohibition fails",
        ["Prohibition has never stopped anyone from smoking weed",
         "Banning cannabis just hands the market to dealers",
         "The war on drugs failed, legalise it",
         "People buy pot anyway, the ban does nothing"]),
    1: ("Cannabis harms young people's health",
        ["Weed damages the developing brains of teenagers",
         "Smoking cannabis young is linked to psychosis",
         "Marijuana hurts memory in adolescents",
         "Kids who use pot do worse at school"]),
}


def _pairs():
    """Both points from one topic-stance, so that topic batches hold both."""
    return [(argument, point, k, ("cannabis", "debate")) for k, (point, arguments) in POINTS.items()
            for argument in arguments]


def _separation(encoder):
    """Mean similarity of arguments to their own point minus to the other point."""
    points = encoder.encode([POINTS[k][0] for k in POINTS])
    gap = []
    for k, (_, arguments) in POINTS.items():
        vectors = encoder.encode(arguments)
        gap.append(float((vectors @ points[k]).mean() - (vectors @ points[1 - k]).mean()))
    return float(np.mean(gap))


def test_training_pulls_arguments_toward_their_point_and_round_trips(tmp_path):
    from nlp.embed import Encoder

    before = _separation(Encoder(None, dtype="float32"))
    state = theme_encoder.train(_pairs(), layers=1, epochs=8, lr=1e-3, batch=8)
    assert set(state) and all(v.dtype.is_floating_point for v in state.values())
    path = tmp_path / "themes.safetensors"
    theme_encoder.save(state, path, layers=1)
    loaded, base = theme_encoder.load(path)
    assert base == DEFAULT_ENCODER and loaded.name.startswith(f"{DEFAULT_ENCODER}+themes-")
    vectors = loaded.encode(["a post", "another post"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    assert _separation(loaded) > before + 0.05


def test_other_weights_get_another_name_so_stored_vectors_are_not_reused(tmp_path):
    """Vectors are stored under the encoder's name: new weights must not find old vectors."""
    state = theme_encoder.train(_pairs(), layers=1, epochs=1, lr=1e-3, batch=8)
    theme_encoder.save(state, tmp_path / "a.safetensors", layers=1)
    theme_encoder.save({k: v + 1 for k, v in state.items()}, tmp_path / "b.safetensors", layers=1)
    names = {theme_encoder.load(tmp_path / f"{n}.safetensors")[0].name for n in "ab"}
    assert len(names) == 2


def test_topic_batches_hold_one_topic_stance_and_cover_every_pair():
    import random

    pairs = [(f"arg {i}", "point", i % 3, ("topic", "pro" if i < 50 else "con"))
             for i in range(70)]
    epoch = theme_encoder.batches(pairs, 16, random.Random(0), "topic")
    assert sorted(i for b in epoch for i in b) == list(range(70))
    assert all(len({pairs[i][3] for i in b}) == 1 and len(b) <= 16 for b in epoch)
    shuffled = theme_encoder.batches(pairs, 16, random.Random(0), "random")
    assert sorted(i for b in shuffled for i in b) == list(range(70))
    assert any(len({pairs[i][3] for i in b}) == 2 for b in shuffled)
    with pytest.raises(ValueError, match="unknown batching"):
        theme_encoder.batches(pairs, 16, random.Random(0), "by-length")
    with pytest.raises(ValueError, match="topic-stance"):
        theme_encoder.batches([p[:3] for p in pairs], 16, random.Random(0), "topic")


def test_parts_join_to_the_same_encoder(tmp_path):
    """A GPU machine returns files of under 16 MB: the weights travel in parts."""
    import torch

    state = theme_encoder.train(_pairs(), layers=2, epochs=1, lr=1e-3, batch=8)
    parts = theme_encoder.save_parts(state, tmp_path / "parts", layers=2, limit=1 << 20)
    assert len(parts) > 1
    theme_encoder.join(tmp_path / "parts", tmp_path / "joined.safetensors")
    whole = tmp_path / "whole.safetensors"
    theme_encoder.save(state, whole, layers=2)
    joined = theme_encoder.load(tmp_path / "joined.safetensors")[0]
    direct = theme_encoder.load(whole)[0]
    texts = ["Banning cannabis hands the market to dealers"]
    assert np.allclose(joined.encode(texts), direct.encode(texts))
    assert all(torch.equal(a, b) for a, b in zip(joined.model.state_dict().values(),
                                                direct.model.state_dict().values()))
    with pytest.raises(FileNotFoundError):
        theme_encoder.join(tmp_path / "nothing-here", tmp_path / "x.safetensors")


def test_no_pairs_is_a_clear_error():
    with pytest.raises(ValueError, match="no training pairs"):
        theme_encoder.train([])


def test_a_missing_file_loads_nothing(tmp_path):
    assert theme_encoder.load(tmp_path / "absent.safetensors") is None


@pytest.mark.skipif(not theme_encoder.FILE.is_file(), reason="no shipped theme encoder")
def test_the_shipped_theme_encoder_applies_only_to_its_base_encoder():
    model = theme_encoder.for_encoder(DEFAULT_ENCODER)
    assert model is not None and model.name.startswith(f"{DEFAULT_ENCODER}+themes-")
    assert theme_encoder.for_encoder("some/other-model") is None
    assert theme_encoder.for_encoder(None) is None
    assert model.encode(["The strikes are overdue"]).shape == (1, 384)


def test_themes_are_found_in_the_points_when_given():
    """Clusters come from the theme encoder's vectors (`points`), not from the embeddings
    (which still pick each theme's central posts)."""
    rng = np.random.default_rng(0)
    planted = np.repeat(rng.normal(size=(2, 16)), [12, 10], axis=0) + 0.05 * rng.normal(size=(22, 16))
    noise = rng.normal(size=(22, 16))
    texts = [f"post number {i}" for i in range(22)]
    truth = [list(range(12)), list(range(12, 22))]
    found = themes.extract_themes(texts, noise, points=planted, encoder="test")
    assert sorted(sorted(t.members) for t in found) == truth
    assert sorted(sorted(t.members) for t in themes.extract_themes(texts, noise, encoder="test")) != truth


def test_evidence_uses_points_only_when_every_clustered_post_has_one():
    from datetime import UTC, datetime

    from nlp.summarize import build_evidence
    from reactions.models import Post, StancePrediction, Story

    rng = np.random.default_rng(1)
    planted = np.repeat(rng.normal(size=(2, 16)), [8, 8], axis=0) + 0.05 * rng.normal(size=(16, 16))
    noise = rng.normal(size=(16, 16))
    posts = [Post(platform="bluesky", native_id=str(i), url=f"https://example.org/{i}",
                  text=f"supporters post number {i} says something", author="a", created_at=datetime(2025, 11, 24, tzinfo=UTC), id=i)
             for i in range(16)]
    items = [(p, StancePrediction("supporters", {"supporters": 0.9})) for p in posts]
    story = Story(slug="s", title="A story", claim="A claim")
    points = {i: planted[i] for i in range(16)}
    themed = build_evidence(story, items, embeddings=dict(enumerate(noise)), encoder="test",
                            points=points)
    groups = sorted(sorted(t.post_ids) for t in themed.buckets["supporters"].themes)
    assert groups == [list(range(8)), list(range(8, 16))]
    del points[3]  # one post without a point: the bucket falls back to the embeddings
    partial = build_evidence(story, items, embeddings=dict(enumerate(noise)), encoder="test",
                             points=points)
    assert sorted(sorted(t.post_ids) for t in partial.buckets["supporters"].themes) != groups


@pytest.mark.skipif(not theme_encoder.FILE.is_file(), reason="no shipped theme encoder")
def test_the_pipeline_drops_vectors_of_earlier_weights_once_and_reuses_its_own(store, story, monkeypatch):
    import reactions.pipeline as pipeline
    from tests.test_store import make_posts

    store.save_story(story)
    posts = make_posts(3)
    store.upsert_posts(story.slug, posts)
    ids = [p.id for p in posts]
    stale = {pid: np.ones(384, dtype=np.float32) for pid in ids}
    store.save_embeddings(f"{DEFAULT_ENCODER}+themes", stale)  # before names had a digest
    store.save_embeddings("some/other-model", stale)
    monkeypatch.setattr(pipeline, "_PRUNED", set())
    points = pipeline.theme_points(store, posts, DEFAULT_ENCODER)
    name = theme_encoder.for_encoder(DEFAULT_ENCODER).name
    assert set(points) == set(ids) and not np.allclose(points[ids[0]], 1)
    assert store.embeddings(f"{DEFAULT_ENCODER}+themes", ids) == {}
    assert set(store.embeddings("some/other-model", ids)) == set(ids)
    assert set(store.embeddings(name, ids)) == set(ids)

    def no_encoding(*args, **kwargs):
        raise AssertionError("stored theme vectors were encoded again")

    monkeypatch.setattr(type(theme_encoder.for_encoder(DEFAULT_ENCODER)), "encode", no_encoding)
    again = pipeline.theme_points(store, posts, DEFAULT_ENCODER)
    assert all(np.array_equal(again[i], points[i]) for i in ids)
