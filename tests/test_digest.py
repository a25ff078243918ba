"""Email digests against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from reactions import digest as digests
from reactions import schema as t
from reactions.cli import main
from reactions.config import get_settings
from reactions.models import utcnow
from reactions.notify import DeliveryError, Mailer
from reactions.store import Store
from tests.test_dashboard import SCRIPT, seed, seeded  # noqa: F401 (a fixture)


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(monkeypatch):
    """An SMTP server on 127.0.0.1 and REACTIONS_SMTP_* pointing at it."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("REACTIONS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("REACTIONS_SMTP_PORT", str(port))
    monkeypatch.setenv("REACTIONS_SMTP_SECURITY", "none")
    monkeypatch.setenv("REACTIONS_SMTP_FROM", "reactions@newsroom.example")
    get_settings.cache_clear()
    inbox.port = port
    yield inbox
    controller.stop()


def subscription(store: Store, slug: str, **kwargs) -> dict:
    sub_id = digests.add_subscription(store, slug, "editor@example.org", "daily", **kwargs)
    return next(s for s in digests.list_subscriptions(store) if s["id"] == sub_id)


def test_digest_mime_structure_parts_inline_image_and_escaping(sqlite_store, smtp):
    story = seed(sqlite_store)
    sub = subscription(sqlite_store, story.slug)
    assert digests.send_digest(sqlite_store, sub) == "sent"
    assert len(smtp.messages) == 1 and smtp.recipients == [["editor@example.org"]]
    message = smtp.messages[0]
    assert message["From"] == "reactions@newsroom.example"
    assert "Seeded story" in message["Subject"] and "daily digest" in message["Subject"]
    assert message.get_content_type() == "multipart/alternative"
    plain, related = message.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, image = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    assert image.get_content_type() == "image/png"
    assert image.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    html, text = html_part.get_content(), plain.get_content()
    assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html

    # Post text: raw in the text part, escaped in the HTML, never a live tag or link.
    assert SCRIPT in text
    assert "&lt;script&gt;" in html and "<script" not in html
    assert "&lt;b&gt;mallory&lt;/b&gt;" in html
    assert "javascript:" not in html and "javascript:" not in text
    assert 'href="https://example.org/' in html
    # CSS is inlined for mail clients; shares, quotes and the failed source are there.
    assert "<style" not in html and 'style="' in html
    for part in (html, text):
        assert "Supporters" in part and "first digest" in part
        assert "hackernews failed" in part and "HTTP 503 from the API" in part
        assert "Shares are a rough estimate" in part  # no label for this story yet
    row = digests.digest_history(sqlite_store)[0]
    assert row["status"] == "sent" and row["attempts"] == 1
    assert set(row["summary"]["shares"]) == {"supporters", "skeptics", "neutral"}


def test_digest_shows_the_paragraph_evidence_and_sources_as_blurb_does(sqlite_url, smtp,
                                                                        monkeypatch, capsys):
    import html as htmllib
    import re

    monkeypatch.setenv("REACTIONS_DATABASE_URL", sqlite_url)
    store = Store(sqlite_url)
    story = seed(store)
    assert digests.send_digest(store, subscription(store, story.slug)) == "sent"
    message = smtp.messages[0]
    text = message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(preferencelist=("html",)).get_content()
    with store.engine.connect() as conn:
        by_url = {r.url: r.text for r in conn.execute(sa.select(t.posts.c.url, t.posts.c.text))}

    # Text part: citation numbers run 1..N across paragraph and evidence, then every number
    # is listed once under Sources, with its link or without one (javascript: is withheld).
    body, sources = text.split("\nSources:\n", 1)
    cited = list(dict.fromkeys(int(n) for n in re.findall(r"\[(\d+)\]", body)))
    assert len(cited) >= 5 and cited == list(range(1, len(cited) + 1))
    listed = dict(re.findall(r"^\[(\d+)\] (\S.*)$", sources.split("\n\n")[0], re.M))
    assert [int(n) for n in listed] == cited
    assert "(no web link)" in listed.values() and "javascript:" not in text

    # HTML part: each [n] links to the post it quotes, and the source list agrees.
    marks = re.findall(r"\u201c([^\u201d]*)\u201d<sup><a href=\"([^\"]+)\"[^>]*>\[(\d+)\]</a>", html)
    assert len(marks) >= 5
    html_sources = dict(re.findall(r"\[(\d+)\] <a href=\"([^\"]+)\"", html))
    for quote, url, n in marks:
        assert htmllib.unescape(quote) in by_url[url]
        assert html_sources[n] == url == listed[n]
    # The hostile post is quoted with its number, escaped, and never linked.
    assert re.search(r"&lt;script&gt;[^<]*\u201d<sup>\[\d+\]</sup>", html)
    assert "<script" not in html and SCRIPT in body

    # Shares sum to 100, in the counts line and in the table; counts agree with each other.
    counts_line = next(line for line in body.splitlines() if line.startswith("supporters "))
    shares = {b: (int(n), int(p)) for b, n, p in re.findall(r"(\w+) (\d+) \((\d+)%\)",
                                                            counts_line)}
    assert sum(p for _, p in shares.values()) == 100
    table = {m[0].lower(): (int(m[1]), int(m[2])) for m in
             re.findall(r"^  (Supporters|Skeptics|Neutral)\s+(\d+)\s+(\d+)%", text, re.M)}
    assert table == shares

    # `blurb --since 1d` prints the same paragraph, evidence and numbers.
    assert main(["blurb", story.slug, "--since", "1d"]) == 0
    blurb = capsys.readouterr().out
    paragraph, evidence = blurb.split("\n\n")[1:3]
    assert paragraph in body and evidence in body and counts_line in blurb
    for line in blurb.split("Sources:\n", 1)[1].strip().splitlines():
        assert line in sources
    store.close()


def test_change_since_the_last_digest(sqlite_store, smtp):
    story = seed(sqlite_store)
    sub = subscription(sqlite_store, story.slug)
    yesterday = utcnow() - timedelta(days=1)
    with sqlite_store.begin() as conn:
        conn.execute(sa.insert(t.digests).values(
            subscription_id=sub["id"], period_key=digests.period_key("daily", yesterday),
            status="sent", attempts=1, sent_at=yesterday,
            summary={"shares": {"supporters": 0.10, "skeptics": 0.5, "neutral": 0.4}}))
    assert digests.send_digest(sqlite_store, sub) == "sent"
    text = smtp.messages[0].get_body(preferencelist=("plain",)).get_content()
    supporters = next(line for line in text.splitlines() if line.startswith("  Supporters "))
    assert "+2" in supporters and "points" in supporters  # ~33% now against 10% before


def test_digest_is_sent_once_per_period_across_a_restart(db_url, smtp):
    store = Store(db_url)
    story = seed(store)
    subscription(store, story.slug, cron="* * * * *")
    later = utcnow() + timedelta(minutes=2)
    assert list(digests.send_due_digests(store, now=later).values()) == ["sent"]
    store.close()

    restarted = Store(db_url)  # a new process: nothing in memory
    assert digests.send_due_digests(restarted, now=later + timedelta(minutes=5)) == {}
    sub = digests.list_subscriptions(restarted)[0]
    assert digests.send_digest(restarted, sub, now=later) == "already sent"
    assert len(smtp.messages) == 1
    # The next day is a new period.
    assert list(digests.send_due_digests(restarted, now=later + timedelta(days=1)).values()) == [
        "sent"]
    assert len(smtp.messages) == 2
    restarted.close()


def test_failed_send_is_recorded_and_retried_after_a_refused_connection(sqlite_store, smtp,
                                                                         monkeypatch):
    story = seed(sqlite_store)
    subscription(sqlite_store, story.slug, cron="* * * * *")
    dead = free_port()  # nothing listens here: connection refused
    monkeypatch.setenv("REACTIONS_SMTP_PORT", str(dead))
    get_settings.cache_clear()
    later = utcnow() + timedelta(minutes=2)
    mailer = Mailer(get_settings(), attempts=2, wait_initial=0.01)
    assert list(digests.send_due_digests(sqlite_store, now=later, mailer=mailer).values()) == [
        "failed"]
    row = digests.digest_history(sqlite_store)[0]
    assert row["status"] == "failed" and row["attempts"] == 1
    assert "ConnectionRefusedError" in row["error"] and "2 attempts" in row["error"]

    monkeypatch.setenv("REACTIONS_SMTP_PORT", str(smtp.port))  # the server is back
    get_settings.cache_clear()
    assert list(digests.send_due_digests(sqlite_store, now=later).values()) == ["sent"]
    row = digests.digest_history(sqlite_store)[0]
    assert row["status"] == "sent" and row["attempts"] == 2 and row["error"] is None
    assert len(smtp.messages) == 1


def test_password_never_appears_in_errors_logs_or_the_store(sqlite_store, smtp, monkeypatch,
                                                            caplog):
    monkeypatch.setenv("REACTIONS_SMTP_USER", "desk")
    monkeypatch.setenv("REACTIONS_SMTP_PASSWORD", "s3cret-pa55")
    get_settings.cache_clear()
    story = seed(sqlite_store)
    sub = subscription(sqlite_store, story.slug)
    mailer = Mailer(get_settings(), attempts=1)
    assert "s3cret" not in repr(mailer)
    with caplog.at_level(logging.DEBUG):
        # aiosmtpd offers no AUTH without TLS, so the login cannot happen.
        assert digests.send_digest(sqlite_store, sub, mailer=mailer) == "failed"
    stored = str(digests.digest_history(sqlite_store))
    assert "AUTH" in stored or "auth" in stored
    assert "s3cret" not in stored and "s3cret" not in caplog.text


def test_cli_digest_sends_dry_runs_and_refuses_bad_input(sqlite_url, smtp, monkeypatch, tmp_path,
                                                         capsys):
    monkeypatch.setenv("REACTIONS_DATABASE_URL", sqlite_url)
    store = Store(sqlite_url)
    seed(store)
    eml = tmp_path / "digest.eml"
    assert main(["digest", "--story", "seeded", "--to", "a@example.org", "--dry-run", str(eml)]) == 0
    written = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert written.get_content_type() == "multipart/alternative" and smtp.messages == []
    assert digests.digest_history(store) == []

    assert main(["digest", "--story", "seeded", "--to", "a@example.org"]) == 0
    assert main(["digest", "--story", "seeded", "--to", "a@example.org"]) == 0
    out = capsys.readouterr().out
    assert "sent to a@example.org" in out and "already went" in out
    assert len(smtp.messages) == 1
    assert digests.list_subscriptions(store)[0]["active"] is False  # a one-off, not a subscription

    assert main(["digest", "--story", "seeded", "--to", "a@example.org", "--period", "weekly",
                 "--subscribe", "--cron", "30 6 * * fri"]) == 0
    weekly = next(s for s in digests.list_subscriptions(store) if s["period"] == "weekly")
    assert weekly["active"] is True and weekly["cron"] == "30 6 * * fri"

    assert main(["digest", "--story", "seeded", "--to", "not-an-address"]) == 2
    assert main(["digest", "--story", "nope", "--to", "a@example.org"]) == 2
    assert main(["digest", "--story", "seeded", "--to", "a@example.org", "--subscribe",
                 "--cron", "every day"]) == 2
    err = capsys.readouterr().err
    assert "not an email address" in err and "unknown story" in err and "crontab" in err
    store.close()


def test_cli_digest_without_smtp_settings_says_what_to_set(sqlite_url, monkeypatch, capsys):
    monkeypatch.setenv("REACTIONS_DATABASE_URL", sqlite_url)
    store = Store(sqlite_url)
    seed(store)
    assert main(["digest", "--story", "seeded", "--to", "a@example.org"]) == 2
    assert "REACTIONS_SMTP_HOST" in capsys.readouterr().err
    store.close()


def test_due_logic_follows_the_cron_and_the_subscription_start():
    now = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    fired = digests.last_fire_time("0 7 * * *", now, timedelta(days=1))
    assert fired == now.replace(hour=7)
    assert digests.period_key("weekly", now).startswith(str(now.isocalendar()[0]))
    with pytest.raises(ValueError, match="crontab"):
        digests.validate_cron("61 * * * *")
    with pytest.raises(DeliveryError, match="REACTIONS_SMTP_HOST"):
        Mailer(get_settings())


class DropAfterData(Inbox):
    """Takes the message, then drops the connection before answering: the client cannot
    tell whether it was accepted."""

    async def handle_DATA(self, server, session, envelope):
        await super().handle_DATA(server, session, envelope)
        server.transport.close()
        return "250 OK"


def test_a_connection_dropped_after_data_is_unknown_and_never_resent(db_url, smtp):
    store = Store(db_url)
    story = seed(store)
    subscription(store, story.slug, cron="* * * * *")
    dropping = DropAfterData()
    port = free_port()
    controller = Controller(dropping, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = get_settings().model_copy(update={"smtp_port": port})
        mailer = Mailer(settings, attempts=3, wait_initial=0.01)
        later = utcnow() + timedelta(minutes=2)
        assert list(digests.send_due_digests(store, now=later, mailer=mailer).values()) == [
            "unknown"]
        assert len(dropping.messages) == 1  # one attempt, not three: no blind retry
        row = digests.digest_history(store)[0]
        assert row["status"] == "unknown" and row["attempts"] == 1
        assert row["message_id"] == dropping.messages[0]["Message-ID"].strip()
        assert "check the recipient's mailbox" in row["error"]
        # Later checks, even by a fresh process, leave it alone...
        restarted = Store(db_url)
        assert digests.send_due_digests(restarted, now=later + timedelta(minutes=5),
                                        mailer=mailer) == {}
        sub = digests.list_subscriptions(restarted)[0]
        assert digests.send_digest(restarted, sub, now=later, mailer=mailer) == "unknown"
        assert len(dropping.messages) == 1
        # ...and it is listed until an editor settles it.
        unknown = digests.unknown_digests(restarted)
        assert [(u["story"], u["address"], u["status"]) for u in unknown] == [
            (story.slug, "editor@example.org", "unknown")]
        digests.resolve_unknown(restarted, unknown[0]["id"], arrived=False)
        assert digests.unknown_digests(restarted) == []
        with pytest.raises(digests.DigestError, match="no unknown outcome"):
            digests.resolve_unknown(restarted, unknown[0]["id"], arrived=True)
        # Not received: the next check sends it again, under the same Message-ID.
        assert list(digests.send_due_digests(restarted, now=later).values()) == ["sent"]
        assert smtp.messages[0]["Message-ID"].strip() == row["message_id"]
        assert digests.digest_history(restarted)[0]["attempts"] == 2
        restarted.close()
    finally:
        controller.stop()
        store.close()


def test_a_send_claimed_by_a_dead_process_becomes_unknown(db_url, smtp):
    store = Store(db_url)
    story = seed(store)
    sub = subscription(store, story.slug, cron="* * * * *")
    later = utcnow() + timedelta(minutes=2)
    key = digests.period_key("daily", later)
    with store.begin() as conn:  # what a process that died mid-send leaves behind
        conn.execute(sa.insert(t.digests).values(
            subscription_id=sub["id"], period_key=key, status="sending", attempts=1,
            message_id="<digest.1@reactions.local>", claimed_at=utcnow()))
    # Claimed a moment ago: another process may be sending it right now.
    assert list(digests.send_due_digests(store, now=later).values()) == ["in progress"]
    assert digests.unknown_digests(store) == []
    with store.begin() as conn:
        conn.execute(sa.update(t.digests).values(
            claimed_at=utcnow() - digests.SENDING_TIMEOUT - timedelta(seconds=1)))
    assert len(digests.unknown_digests(store)) == 1  # shown before anything touches it
    assert list(digests.send_due_digests(store, now=later).values()) == ["unknown"]
    assert digests.send_due_digests(store, now=later) == {}
    assert smtp.messages == []
    row = digests.digest_history(store)[0]
    assert row["status"] == "unknown" and "stopped mid-send" in row["error"]
    digests.resolve_unknown(store, row["id"], arrived=True)
    assert digests.digest_history(store)[0]["status"] == "sent"
    assert digests.send_due_digests(store, now=later) == {} and smtp.messages == []
    store.close()


def test_two_senders_at_once_send_one_digest(db_url, smtp):
    import threading

    store = Store(db_url)
    story = seed(store)
    sub = subscription(store, story.slug)
    barrier = threading.Barrier(4)
    outcomes = []

    def send():
        barrier.wait()
        outcomes.append(digests.send_digest(store, dict(sub)))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("sent") == 1 and len(smtp.messages) == 1
    assert set(outcomes) <= {"sent", "in progress", "already sent"}
    store.close()


def test_cli_status_lists_unknown_digests_and_resolve_settles_them(sqlite_url, smtp,
                                                                     monkeypatch, capsys):
    import json

    monkeypatch.setenv("REACTIONS_DATABASE_URL", sqlite_url)
    store = Store(sqlite_url)
    story = seed(store)
    sub = subscription(store, story.slug)
    ids = {}
    with store.begin() as conn:
        for key in ("2025-11-24", "2025-11-25"):
            ids[key] = conn.execute(sa.insert(t.digests).values(
                subscription_id=sub["id"], period_key=key, status="unknown", attempts=1,
                message_id=f"<digest.{key}@reactions.local>", claimed_at=utcnow(),
                error="dropped")).inserted_primary_key[0]
    first, second = ids["2025-11-24"], ids["2025-11-25"]

    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"digest {first} seeded to editor@example.org (daily, 2025-11-24)" in out
    assert "<digest.2025-11-24@reactions.local>" in out
    assert f"--resolve {second} --arrived yes|no" in out
    assert "seeded/hackernews" in out  # the sources are still listed
    assert main(["status", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    unknown = [r for r in rows if r["kind"] == "digest"]
    assert [(r["digest_id"], r["state"], r["address"]) for r in unknown] == [
        (first, "unknown", "editor@example.org"), (second, "unknown", "editor@example.org")]
    assert {r["kind"] for r in rows} == {"source", "digest"}

    # Not received: it leaves the list and may be sent again, with its Message-ID.
    assert main(["digest", "--resolve", str(first), "--arrived", "no"]) == 0
    assert "not received" in capsys.readouterr().out
    assert [d["id"] for d in digests.unknown_digests(store)] == [second]
    assert digests.send_digest(store, sub, key="2025-11-24") == "sent"
    assert smtp.messages[0]["Message-ID"].strip() == "<digest.2025-11-24@reactions.local>"
    # Arrived: recorded as sent, never sent again.
    assert main(["digest", "--resolve", str(second), "--arrived", "yes"]) == 0
    assert "recorded as sent" in capsys.readouterr().out
    assert digests.unknown_digests(store) == []
    assert digests.send_digest(store, sub, key="2025-11-25") == "already sent"
    assert len(smtp.messages) == 1
    assert main(["status"]) == 0
    assert "outcome unknown" not in capsys.readouterr().out

    # Bad input: a clear error, nothing changed.
    assert main(["digest", "--resolve", str(second), "--arrived", "no"]) == 2
    assert main(["digest", "--resolve", str(second)]) == 2
    assert main(["digest", "--resolve", str(second), "--arrived", "no", "--story", "seeded"]) == 2
    assert main(["digest", "--to", "a@example.org"]) == 2
    err = capsys.readouterr().err
    assert "no unknown outcome" in err and "go together" in err
    assert "only --arrived" in err and "--story STORY and --to ADDRESS are required" in err
    assert {d["status"] for d in digests.digest_history(store)} == {"sent"}
    store.close()


def test_the_digests_page_shows_an_unknown_send(seeded):  # noqa: F811 (the fixture)
    from tests.test_dashboard import app

    store, story = seeded
    sub = digests.list_subscriptions(store)[0]
    with store.begin() as conn:
        conn.execute(sa.insert(t.digests).values(
            subscription_id=sub["id"], period_key="2025-11-24", status="unknown", attempts=1,
            message_id="<digest.7@reactions.local>", claimed_at=utcnow(), error="dropped"))
    at = app("digests")
    warning = " ".join(w.value for w in at.warning).replace("\\", "")  # markdown-escaped
    assert "may or may not have arrived" in warning and "<digest.7@reactions.local>" in warning
    assert "editor@example.org" in warning and "2025-11-24" in warning
