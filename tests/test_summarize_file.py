"""`reactions summarize-file`: the paragraph and themes for a CSV export."""

import csv
import json

import pytest

from reactions.cli import main
from tests.test_summarize import FakeEncoder

ROWS = [
    # Supporters make one point four times (plus a repost), skeptics one point three times.
    ("p1", "Stop narco boats now | first", "bluesky", "favor"),
    ("p2", "Yes, stop the narco boats | second", "x", "favor"),
    ("p3", "So stop all narco boats | third", "x", "FAVOR"),
    ("p4", "Stop narco boats already | fourth", "bluesky", "supporters"),
    ("p5", "RT Stop narco boats now | first", "x", "favor"),
    ("p6", "Illegal killings <b>without</b> trial | one", "reddit", "against"),
    ("p7", "These are illegal killings without trial | two", "reddit", "against"),
    ("p8", "Killings without trial are illegal | three", "reddit", "con"),
    ("p9", "Axios reports a call with Maduro | news", "x", "none"),
]


@pytest.fixture
def fake_encoder(monkeypatch):
    import nlp.embed

    encoder = FakeEncoder()
    monkeypatch.setattr(nlp.embed, "load_encoder", lambda spec=None: encoder)
    return encoder


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run(capsys, *argv):
    code = main(["summarize-file", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_shape_with_labels_and_ids(capsys, tmp_path, fake_encoder):
    path = write_csv(tmp_path / "posts.csv", ["id", "text", "platform", "label"], ROWS)
    code, out, _ = run(capsys, str(path), "--target", "The strikes are right.", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data["buckets"]) == {"supporters", "skeptics", "neutral"}
    sup, skep = data["buckets"]["supporters"], data["buckets"]["skeptics"]
    assert (sup["count"], sup["reposts"]) == (5, 1)
    assert sup["share"] == pytest.approx(5 / 9, abs=1e-4)
    (theme,) = sup["themes"]
    assert set(theme) >= {"phrase", "size", "post_ids", "quotes"}
    assert theme["size"] == 4 and sorted(theme["post_ids"]) == ["p1", "p2", "p3", "p4"]
    assert all(q["id"] in theme["post_ids"] for q in theme["quotes"])
    assert skep["count"] == 3 and sorted(skep["themes"][0]["post_ids"]) == ["p6", "p7", "p8"]
    assert data["buckets"]["neutral"]["themes"] == []  # one post is no theme
    assert data["paragraph"].startswith("So far, posts on X, Reddit and Bluesky have centred on")
    assert "Supporters: 5 posts, 1 of them a repost, 56%." in data["evidence"][0]["text"]
    # Each row's bucket, where it came from, and its theme; given labels need no caveat.
    posts = {row["id"]: row for row in data["posts"]}
    assert posts["p6"]["bucket"] == "skeptics" and posts["p6"]["source"] == "label"
    assert posts["p5"]["repeat_of"] == "p1" and posts["p9"]["theme"] is None
    assert posts["p1"]["theme"] == theme["phrase"]
    assert data["caveat"] is None
    # Every quote is text of the row it cites, and the cited row is in the sentence's bucket.
    texts = {r[0]: r[1] for r in ROWS}
    for sentence in data["sentences"] + data["evidence"]:
        for quote, pid in zip(sentence["quotes"], sentence["post_ids"]):
            assert quote.removesuffix("...") in texts[pid]
            if sentence["bucket"] in data["buckets"]:
                assert posts[pid]["bucket"] == sentence["bucket"]


def test_row_numbers_when_there_is_no_id_column(capsys, tmp_path, fake_encoder):
    path = write_csv(tmp_path / "posts.csv", ["text", "label"], [(r[1], r[3]) for r in ROWS])
    code, out, _ = run(capsys, str(path), "--target", "The strikes are right.", "--json")
    data = json.loads(out)
    assert sorted(data["buckets"]["skeptics"]["themes"][0]["post_ids"]) == [5, 6, 7]


def test_text_output_and_title(capsys, tmp_path, fake_encoder):
    path = write_csv(tmp_path / "posts.csv", ["id", "text", "platform", "label"], ROWS)
    code, out, _ = run(capsys, str(path), "--target", "The strikes are right.",
                       "--style", "detailed", "--out", str(tmp_path / "buckets.csv"))
    assert code == 0
    assert out.startswith("So far, posts on X, Reddit and Bluesky have centred on")
    assert "Skeptics (3 posts, 33%) counter" in out
    assert "- Skeptics: 3 posts, 33%." in out  # the evidence block follows
    with open(tmp_path / "buckets.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["id"], r["bucket"], r["source"]) for r in rows][:2] == [
        ("p1", "supporters", "label"), ("p2", "supporters", "label")]
    assert len(rows) == len(ROWS)


def test_without_labels_the_classifier_decides(capsys, tmp_path, fake_encoder, monkeypatch):
    from tests.conftest import KeywordClassifier

    calls = []

    class Classifier(KeywordClassifier):
        encoder = fake_encoder

        def predict(self, texts, claim, embeddings=None):
            calls.append((claim, embeddings is not None))
            return super().predict(texts, claim, embeddings)

    import nlp.stance

    monkeypatch.setattr(nlp.stance, "load_classifier", lambda spec=None, **_: Classifier())
    path = write_csv(tmp_path / "posts.csv", ["text"], [
        ("I support the strikes",), ("Against the law, illegal",), ("Trump spoke today",)])
    code, out, _ = run(capsys, str(path), "--target", "The strikes are right.", "--json")
    data = json.loads(out)
    assert calls == [("The strikes are right.", True)]  # embeddings computed once, passed on
    assert [data["buckets"][b]["count"] for b in ("supporters", "skeptics", "neutral")] == [1, 1, 1]
    assert fake_encoder.encoded == 3
    # The model guessed every bucket: the caveat says so, and each row says "model".
    assert "model's guess" in data["caveat"]
    assert {row["source"] for row in data["posts"]} == {"model"}
    code, out, _ = run(capsys, str(path), "--target", "The strikes are right.")
    assert "model's guess" in out


@pytest.mark.parametrize("header,rows,message", [
    (["body"], [("x",)], "needs a `text` column (found: body)"),
    (["text", "label"], [("ok", "favor"), ("hmm", "maybe")], "line 3: unknown stance label 'maybe'"),
    (["text", "created_at", "label"], [("ok", "yesterday", "favor")], "line 2: created_at 'yesterday'"),
])
def test_bad_input_is_a_clear_error(capsys, tmp_path, header, rows, message):
    path = write_csv(tmp_path / "bad.csv", header, rows)
    code, out, err = run(capsys, str(path), "--target", "Claim")
    assert code == 2 and message in err and "Traceback" not in err and out == ""


def test_missing_file_is_a_clear_error(capsys, tmp_path):
    code, _, err = run(capsys, str(tmp_path / "nope.csv"), "--target", "Claim")
    assert code == 2 and "no such file" in err
