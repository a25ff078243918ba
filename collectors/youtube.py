"""YouTube comments, through the Data API v3 `commentThreads` of the story's videos.

Videos come from the `video_ids` option, or are found with `search.list` for the story's
queries (at most once per `discover_hours`, default 24); `channel_ids` adds every thread
related to those channels (`allThreadsRelatedToChannelId`). Each video's or channel's
threads, with the replies they carry, are read newest first (order=time) with `pageToken`
back to the newest comment of the previous run.

Quotas, as the API's quota page documents them: `search.list` has a bucket of its own (100
calls a day by default, `daily_searches`) and every other method shares 10,000 units a day
(`daily_quota`; `commentThreads.list` costs 1). Both are counted in the cursor per Pacific
day (the API resets them at midnight Pacific Time), and a run stops before it would pass
either. When searches are spent, the videos found before are read; when the units are
spent, the run stops until midnight. When the API itself says a quota is spent, the cursor
records that bucket as spent for the day, so later runs that day do not call it.
The key travels in the `X-goog-api-key` header, never in a URL.

Credentials: REACTIONS_YOUTUBE_API_KEY.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from collectors.base import (
    AuthError,
    CollectorError,
    CursorState,
    MalformedResponse,
    Page,
    RateLimited,
    Sweep,
    backfill_start,
    iso,
    parse_items,
    parse_timestamp,
    require_env,
)
from collectors.http import HttpCollector, get_json
from collectors.text import html_to_text
from reactions.models import Post, Story, utcnow

log = logging.getLogger(__name__)
NAME = "youtube"
BASE_URL = "https://www.googleapis.com/youtube/v3"
ENV = ["REACTIONS_YOUTUBE_API_KEY"]
#: Quota units per call, from the API's quota calculator (search.list has its own bucket).
COST = {"commentThreads": 1}
#: The API's default daily allocations: units for all other methods, and search.list calls.
DAILY_QUOTA = 10_000
DAILY_SEARCHES = 100
#: Where the API's quota day starts and ends.
QUOTA_TZ = ZoneInfo("America/Los_Angeles")
MAX_RESULTS = 100


# -- the quota day -----------------------------------------------------------------------

def quota_day(now: datetime) -> str:
    """The API's quota day (a Pacific Time date) that `now` falls in, as YYYY-MM-DD."""
    return now.astimezone(QUOTA_TZ).date().isoformat()


def until_reset(now: datetime) -> float:
    """Seconds from `now` until the quotas reset, at the next midnight Pacific Time."""
    local = now.astimezone(QUOTA_TZ)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), QUOTA_TZ)
    # In UTC: the same zone on both sides would subtract wall clocks, an hour off on the
    # days the clocks change.
    return (midnight.astimezone(timezone.utc) - now.astimezone(timezone.utc)).total_seconds()


# -- errors ------------------------------------------------------------------------------

class QuotaExceeded(RateLimited):
    """The day's quota units are spent, by our count or as the API says (`by_api`);
    collection resumes after midnight Pacific Time."""

    #: The wait is already in the cursor, as the day's counts (see HttpCollector.pages).
    kept_in_cursor = True

    def __init__(self, message: str, *, by_api: bool = False, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.by_api = by_api


class CommentsDisabled(CollectorError):
    """The video has comments turned off, or is gone; it is skipped."""


def _reasons(response: httpx.Response) -> list[str]:
    try:
        errors = response.json()["error"].get("errors") or []
        return [str(e.get("reason")) for e in errors if isinstance(e, dict)]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


def check(response: httpx.Response) -> None:
    """Map the API's error reasons before the generic status mapping."""
    if response.status_code < 400:
        return
    reasons = _reasons(response)
    if {"quotaExceeded", "dailyLimitExceeded"} & set(reasons):
        raise QuotaExceeded(f"{NAME}: the API says the daily quota is spent; resuming after "
                            "midnight Pacific Time", source=NAME, retry_after=until_reset(utcnow()),
                            by_api=True)
    if {"commentsDisabled", "videoNotFound", "forbidden"} & set(reasons):
        raise CommentsDisabled(f"{NAME}: comments unavailable ({', '.join(reasons)})", source=NAME)
    if {"keyInvalid", "keyExpired", "accessNotConfigured"} & set(reasons):
        raise AuthError(f"{NAME}: the API key was refused ({', '.join(reasons)}); check "
                        f"{ENV[0]}", source=NAME)


# -- parsing -----------------------------------------------------------------------------

def comment_url(video: str | None, channel: str | None, comment_id: str) -> str | None:
    """Where a comment is shown: under its video, or on its channel's page for a channel
    discussion (threads read with `allThreadsRelatedToChannelId` carry no `videoId`)."""
    if video:
        return f"https://www.youtube.com/watch?v={video}&lc={comment_id}"
    if channel:
        return f"https://www.youtube.com/channel/{channel}/discussion?lc={comment_id}"
    return None


def parse_comment(comment: dict[str, Any], video: str | None = None,
                  channel: str | None = None) -> Post:
    """One `youtube#comment` (a top-level comment or a reply) to a Post."""
    top = comment["snippet"]
    text = top.get("textOriginal") or html_to_text(top.get("textDisplay") or "")
    if not text.strip():
        raise ValueError(f"comment {comment.get('id')} has no text")
    video = top.get("videoId") or video
    channel = top.get("channelId") or channel
    parent = top.get("parentId")
    return Post(
        platform=NAME,
        native_id=str(comment["id"]),
        text=text.strip(),
        author=top.get("authorDisplayName"),
        created_at=parse_timestamp(top.get("publishedAt")),
        url=comment_url(video, channel, str(comment["id"])),
        likes=int(top.get("likeCount") or 0),
        reply_to=str(parent) if parent else None,
        raw=comment,
    )


def _parse_reply(comment: dict[str, Any], *, video: str | None, channel: str | None) -> Post:
    return parse_comment(comment, video, channel)


def parse_thread(thread: dict[str, Any]) -> Post:
    """One `youtube#commentThread` to a Post (its top-level comment); the thread id is the
    top-level comment's id, so a reply's `parentId` names this post."""
    snippet = thread["snippet"]
    comment = snippet["topLevelComment"]
    post = parse_comment({**comment, "id": thread["id"]}, snippet.get("videoId"),
                         snippet.get("channelId"))
    post.replies = int(snippet.get("totalReplyCount") or 0)
    post.raw = thread
    return post


def parse(payload: Any, *, skipped: list[str] | None = None) -> list[Post]:
    """One `youtube#commentThreadListResponse` (threads of a video, or of a channel with
    `allThreadsRelatedToChannelId`) or `youtube#commentListResponse` (a thread's replies)
    to posts; the replies a thread carries (`part=replies`) come after it."""
    kind = payload.get("kind") if isinstance(payload, dict) else None
    if (kind not in ("youtube#commentThreadListResponse", "youtube#commentListResponse")
            or not isinstance(payload.get("items"), list)):
        raise MalformedResponse(f"{NAME}: response is not a commentThreadListResponse or a "
                                "commentListResponse", source=NAME)
    if kind == "youtube#commentListResponse":
        return parse_items(payload["items"], parse_comment, source=NAME, skipped=skipped)
    posts = []
    for number, thread in enumerate(payload["items"]):
        posts += parse_items([thread], parse_thread, source=NAME, skipped=skipped)
        replies = (thread.get("replies") or {}).get("comments") if isinstance(thread, dict) else None
        if isinstance(replies, list) and replies:
            snippet = thread.get("snippet") or {}
            parse_reply = functools.partial(_parse_reply, video=snippet.get("videoId"),
                                      channel=snippet.get("channelId"))
            posts += parse_items(replies, parse_reply, source=f"{NAME}: thread {number} reply",
                                 skipped=skipped)
    return posts


# -- the collector -----------------------------------------------------------------------

class YouTubeCollector(HttpCollector):
    """Comment threads of the configured (or discovered) videos, within the day's quota."""

    name = NAME
    default_base_url = BASE_URL

    @staticmethod
    def _quota(state: CursorState) -> dict[str, Any]:
        """The cursor's counts for the current quota day (a new day starts at zero)."""
        today = quota_day(utcnow())
        quota = state.setdefault("quota", {"day": today, "used": 0, "searches": 0})
        if quota["day"] != today:
            quota.update(day=today, used=0, searches=0)
        quota.setdefault("searches", 0)  # cursors written before search had its own bucket
        return quota

    def _spend(self, state: CursorState, call: str, limit: int) -> None:
        quota = self._quota(state)
        if quota["used"] + COST[call] > limit:
            raise QuotaExceeded(
                f"{NAME}: {quota['used']} of {limit} quota units used today; stopping until "
                "midnight Pacific Time (raise `daily_quota` in the story's source if the "
                "project has more)", source=NAME, retry_after=until_reset(utcnow()))
        quota["used"] += COST[call]

    def _search(self, state: CursorState, query: str, options: dict[str, Any], base: str,
                headers: dict[str, str]) -> list[str] | None:
        """Video ids for one query, or None when the day's search.list calls are spent."""
        quota = self._quota(state)
        searches = int(options.get("daily_searches", DAILY_SEARCHES))
        if quota["searches"] >= searches:
            return None
        quota["searches"] += 1
        after = iso(backfill_start(options)).replace(".000Z", "Z")
        try:
            payload = get_json(self.client, f"{base}/search", source=NAME, check=check,
                               limiter=self.limiter, headers=headers, params={
                                   "part": "snippet", "q": query, "type": "video",
                                   "order": "date", "maxResults": 25, "publishedAfter": after})
        except QuotaExceeded as exc:
            if not exc.by_api:
                raise
            quota["searches"] = searches  # the API says so: no more searches today
            return None
        items = payload.get("items") or []
        return [video for item in items if isinstance(item, dict)
                and (video := (item.get("id") or {}).get("videoId"))]

    def _videos(self, story: Story, state: CursorState, options: dict[str, Any], base: str,
                headers: dict[str, str]) -> tuple[list[str], bool, bool]:
        """The video ids to read, whether searches were counted (the cursor changed), and
        whether the searches ran out before any video was known."""
        if options.get("video_ids"):
            return [str(v) for v in options["video_ids"]], False, False
        found = state.get("discovered") or {}
        hours = float(options.get("discover_hours", 24))
        if found.get("at") and parse_timestamp(found["at"]) > utcnow() - timedelta(hours=hours):
            return found["ids"], False, False
        before = self._quota(state)["searches"]
        ids: list[str] = []
        complete = True
        for query in story.queries or [story.title]:
            got = self._search(state, query, options, base, headers)
            if got is None:
                complete = False
                break
            ids += [video for video in got if video not in ids]
        searched = self._quota(state)["searches"] != before
        if not complete:
            log.warning("%s: the day's search.list calls are spent; reading the %d videos found "
                        "before and %d new, searching again after midnight Pacific Time", NAME,
                        len(found.get("ids") or []), len(ids))
        # Newest videos first, then those found before, up to `max_videos`.
        ids += [v for v in found.get("ids") or [] if v not in ids]
        ids = ids[: int(options.get("max_videos", 50))]
        # A search cut short is tried again on a later run (once the searches are back).
        at = iso(utcnow()) if complete else found.get("at")
        state["discovered"] = {"at": at, "ids": ids}
        return ids, searched, not complete and not ids

    def collect_pages(self, story: Story, state: CursorState,
                      options: dict[str, Any]) -> Iterator[Page]:
        (key,) = require_env(NAME, ENV, self.env)
        base = str(options.get("base_url") or self.base_url).rstrip("/")
        headers = {"X-goog-api-key": key}
        limit = int(options.get("daily_quota", DAILY_QUOTA))
        try:
            yield from self._pages(story, state, options, base, headers, limit)
        except QuotaExceeded as exc:
            if exc.by_api:  # our count was low (other clients of the key): the day is spent
                self._quota(state)["used"] = limit  # (a spent search bucket is handled above)
                yield Page([], state.dump())
            raise

    def _pages(self, story: Story, state: CursorState, options: dict[str, Any], base: str,
               headers: dict[str, str], limit: int) -> Iterator[Page]:
        videos, searched, spent = self._videos(story, state, options, base, headers)
        if searched:  # commit the searches counted and the videos found
            yield Page([], state.dump())
        if spent:
            raise QuotaExceeded(
                f"{NAME}: the day's search.list calls are spent and no videos are known yet; "
                "searching again after midnight Pacific Time (or set `video_ids`)",
                source=NAME, retry_after=until_reset(utcnow()))
        per_video = state.setdefault("videos", {})
        for video in videos:
            sweep = Sweep(per_video.setdefault(video, {}), token="page_token",
                          start=iso(backfill_start(options)))
            yield from self._threads(state, sweep, {"videoId": video}, f"video {video}", base,
                                     headers, limit)
        per_channel = state.setdefault("channels", {})
        for channel in options.get("channel_ids") or []:
            sweep = Sweep(per_channel.setdefault(channel, {}), token="page_token",
                          start=iso(backfill_start(options)))
            yield from self._threads(state, sweep, {"allThreadsRelatedToChannelId": channel},
                                     f"channel {channel}", base, headers, limit)

    def _threads(self, state: CursorState, sweep: Sweep, target: dict[str, str], label: str,
                 base: str, headers: dict[str, str], limit: int) -> Iterator[Page]:
        """The comment threads of one video or channel, newest first, back to the newest
        comment of the previous run."""
        while True:
            params = {"part": "snippet,replies", "order": "time", "maxResults": MAX_RESULTS,
                      "textFormat": "plainText", **target}
            if sweep.token:
                params["pageToken"] = sweep.token
            self._spend(state, "commentThreads", limit)
            skipped: list[str] = []
            try:
                payload = get_json(self.client, f"{base}/commentThreads", source=NAME,
                                   check=check, limiter=self.limiter, headers=headers,
                                   params=params)
            except CommentsDisabled as exc:
                log.info("%s: %s skipped: %s", NAME, label, exc)
                yield Page([], state.dump(), [f"{label}: {exc}"])
                return
            posts = parse(payload, skipped=skipped)
            stamps = [iso(p.created_at) for p in posts if p.created_at and p.reply_to is None]
            sweep.saw(stamps)
            token = payload.get("nextPageToken")
            more = sweep.turn(token if stamps and min(stamps) > sweep.since else None)
            yield Page(posts, state.dump(), skipped)
            if not more:
                return
