"""Alerts on synthetic series, delivered to a webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import timedelta
from http.server import BaseHTTPRequestHandler

import pytest

from reactions import alerts as alert_rules
from reactions.models import BUCKETS, Post, StancePrediction, Story, utcnow
from reactions.store import Store
from tests.conftest import local_http_server


@pytest.fixture
def webhook():
    """A Slack-like webhook receiver on 127.0.0.1 that records every JSON body."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    with local_http_server(Handler) as url:
        yield f"{url}/hook", received


STORY = Story(slug="alerts", title="Alert <story>", claim="The policy is right.")


def add_posts(store: Store, per_hour: list[int], *, now, labels=None, start: int = 0) -> None:
    """per_hour[i] posts created in hour i before `now` (index 0 = the latest hour)."""
    posts, stances, n = [], [], start
    for hour, count in enumerate(per_hour):
        for i in range(count):
            posts.append(Post("file", f"a{n}", f"post {n}", created_at=now - timedelta(
                hours=hour, seconds=1 + (i * 3599) // max(count, 1))))
            stances.append(labels(n, hour) if labels else "neutral")
            n += 1
    store.upsert_posts(STORY.slug, posts, source="file")
    store.save_stances(STORY.slug, [(p.id, StancePrediction(s, {s: 0.9}))
                                    for p, s in zip(posts, stances)], "test")


def test_robust_score_ignores_one_noisy_hour_and_steady_noise():
    steady = [20, 22, 19, 21, 20, 18, 23, 20, 21, 19, 22, 20]
    assert alert_rules.detect_volume_spike([*steady, 24]) is None
    assert alert_rules.detect_volume_spike([*steady, 80])["posts"] == 80
    noisy = [*steady[:-1], 200]  # one noisy hour in the baseline barely moves the bar
    assert alert_rules.detect_volume_spike([*noisy, 80]) is not None
    assert alert_rules.detect_volume_spike([0] * 12 + [5], min_posts=10) is None  # too few posts


def test_a_spike_fires_once_and_steady_traffic_never_fires(db_url, webhook):
    url, received = webhook
    store = Store(db_url)
    store.save_story(STORY)
    now = utcnow()
    # 24 steady hours, then a spike in the latest hour.
    add_posts(store, [60] + [10, 12, 9, 11, 10, 8, 12, 10, 11, 9, 10, 13] * 2, now=now)
    rule = alert_rules.add_rule(store, "volume_spike", channel="webhook", target=url,
                                story=STORY.slug)
    fired = alert_rules.check_alerts(store, now=now)
    assert [a["kind"] for a in fired] == ["volume_spike"]
    assert fired[0]["details"]["posts"] == 60 and fired[0]["delivered"]["ok"]
    assert len(received) == 1
    assert "Volume spike" in received[0]["text"] and "&lt;story&gt;" in received[0]["text"]
    # The story stays hot: later checks within the cooldown fire nothing more.
    for minutes in (5, 10, 30):
        assert alert_rules.check_alerts(store, now=now + timedelta(minutes=minutes)) == []
    assert len(received) == 1
    stored = store.alerts(story=STORY.slug)
    assert len(stored) == 1 and stored[0]["rule_id"] == rule and not stored[0]["acknowledged"]

    # Steady traffic on another story with the same rule for all stories: never fires.
    calm = Story(slug="calm", title="Calm", claim="Nothing happens here.")
    store.save_story(calm)
    alert_rules.add_rule(store, "volume_spike", channel="dashboard")
    posts = [Post("file", f"c{h}-{i}", "calm", created_at=now - timedelta(hours=h, minutes=i))
             for h in range(25) for i in range(10 + (h % 3))]
    store.upsert_posts("calm", posts, source="file")
    for hours in range(0, 24, 3):
        fired = alert_rules.check_alerts(store, now=now + timedelta(hours=hours, minutes=1))
        assert all(a["story"] != "calm" for a in fired)
    store.close()


def shift_labels(n: int, hour: int) -> str:
    # Before (hours 6-11): 20% supporters; latest 6 hours: 60% supporters.
    share = 6 if hour < 6 else 2
    return "supporters" if n % 10 < share else BUCKETS[1 + n % 2]


def test_stance_shift_fires_with_enough_posts_and_not_below_the_threshold(sqlite_store, webhook):
    url, received = webhook
    store = sqlite_store
    store.save_story(STORY)
    now = utcnow()
    add_posts(store, [3] * 12, now=now, labels=shift_labels)  # 18 posts per window: too few
    alert_rules.add_rule(store, "stance_shift", channel="webhook", target=url, story=STORY.slug,
                         params={"points": 15, "min_posts": 30})
    assert alert_rules.check_alerts(store, now=now) == []
    assert received == []

    add_posts(store, [10] * 12, now=now, labels=shift_labels, start=1000)  # now 78 per window
    fired = alert_rules.check_alerts(store, now=now)
    assert len(fired) == 1 and fired[0]["details"]["bucket"] == "supporters"
    assert fired[0]["details"]["points"] >= 15
    assert len(received) == 1 and "supporters up" in received[0]["text"]


def test_failed_webhook_is_recorded_not_raised(sqlite_store):
    store = sqlite_store
    store.save_story(STORY)
    now = utcnow()
    add_posts(store, [60] + [10] * 24, now=now)
    alert_rules.add_rule(store, "volume_spike", channel="webhook",
                         target="http://127.0.0.1:9/nothing-listens")
    fired = alert_rules.check_alerts(store, now=now)
    assert len(fired) == 1
    assert fired[0]["delivered"]["ok"] is False and "webhook failed" in fired[0]["delivered"]["error"]


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "spike"}, "alert kind"),
    ({"kind": "volume_spike", "channel": "sms"}, "channel"),
    ({"kind": "volume_spike", "channel": "email", "target": "nobody"}, "email alerts need"),
    ({"kind": "volume_spike", "channel": "webhook", "target": "javascript:x"}, "http"),
    ({"kind": "volume_spike", "params": {"threshold": -1}}, "positive"),
    ({"kind": "volume_spike", "params": {"bogus": 1}}, "no setting"),
])
def test_bad_rules_are_refused_with_a_reason(sqlite_store, kwargs, message):
    kind = kwargs.pop("kind")
    with pytest.raises(alert_rules.AlertRuleError, match=message):
        alert_rules.add_rule(sqlite_store, kind, **kwargs)
    assert alert_rules.list_rules(sqlite_store) == []


def test_reactions_run_schedules_the_digest_and_alert_checks(sqlite_store, monkeypatch):
    from reactions.schedule import Runner, build_scheduler

    monkeypatch.setenv("REACTIONS_ALERT_CHECK_MINUTES", "2")
    from reactions.config import get_settings

    get_settings.cache_clear()
    scheduler = build_scheduler(Runner(sqlite_store), [])
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert {"digests", "alerts"} <= set(jobs)
    assert jobs["alerts"].trigger.interval == timedelta(minutes=2)
    # The job itself runs a check: a rule on a spiking story fires from it.
    sqlite_store.save_story(STORY)
    add_posts(sqlite_store, [60] + [10] * 24, now=utcnow())
    alert_rules.add_rule(sqlite_store, "volume_spike")
    jobs["alerts"].func()
    assert len(sqlite_store.alerts()) == 1
