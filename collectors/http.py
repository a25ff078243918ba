"""HTTP plumbing shared by the platform collectors: one client per source, status mapping,
rate-limit headers, and retries with backoff that honour Retry-After with a cap on any wait.

Every platform request goes through `request` (or `get_json`): a platform module may pass
a `check` function that maps its own error bodies (an expired Bluesky session, a YouTube
quota) before the generic status mapping in `raise_for_status`.
"""

from __future__ import annotations

import email.utils
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx
import stamina

from collectors.base import (
    AuthError,
    CollectorError,
    CursorState,
    Interrupted,
    MalformedResponse,
    Page,
    RateLimited,
    TransientError,
)
from reactions import __version__
from reactions.models import Story, utcnow

log = logging.getLogger(__name__)

USER_AGENT = f"reactions/{__version__} (newsroom reaction monitor; +https://github.com/reactions)"
#: The longest we ever sleep for one Retry-After or rate-limit reset, in seconds; a longer
#: wait ends this source's run (the saved cursor keeps our place for the next one).
MAX_WAIT = 300.0
#: Backoff between retries of transient failures (stamina adds jitter).
RETRY_WAIT_INITIAL = 1.0
RETRY_WAIT_MAX = 60.0
#: Whole retry loop for one request, waits included.
RETRY_TIMEOUT = 2 * MAX_WAIT + 60
#: The longest one attempt may spend reading a response body, however steadily the server
#: trickles it (the client's read timeout bounds only the gap between two reads).
REQUEST_DEADLINE = 60.0

Check = Callable[[httpx.Response], None]


def make_client(**kwargs: Any) -> httpx.Client:
    """An httpx client with the project's timeouts, connection limits and User-Agent."""
    headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
    return httpx.Client(
        timeout=kwargs.pop("timeout", httpx.Timeout(20.0, connect=10.0)),
        limits=kwargs.pop("limits", httpx.Limits(max_connections=4, max_keepalive_connections=2)),
        headers=headers,
        follow_redirects=True,
        **kwargs,
    )


def _seconds_from_header(value: str | None, now: float) -> float | None:
    """A wait in seconds from a header holding seconds, epoch seconds, an HTTP or ISO date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            try:
                when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return None
        return max(0.0, when.timestamp() - now)
    # Reddit sends seconds until the reset, X and Bluesky the epoch second of the reset.
    return max(0.0, number - now) if number > 1_000_000_000 else max(0.0, number)


def retry_after_seconds(response: httpx.Response, *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: Retry-After, else a rate-limit reset header."""
    now = time.time() if now is None else now
    wait = _seconds_from_header(response.headers.get("Retry-After"), now)
    if wait is None:
        for name in ("X-Ratelimit-Reset", "X-Rate-Limit-Reset", "RateLimit-Reset"):
            wait = _seconds_from_header(response.headers.get(name), now)
            if wait is not None:
                break
    return wait


def pause(seconds: float, stop: threading.Event | None, source: str, why: str) -> None:
    """Wait `seconds`; with a `stop` event, raise Interrupted as soon as it is set, so that
    SIGTERM or Ctrl-C is not held up by a rate-limit wait (up to MAX_WAIT) or a retry backoff."""
    if stop is None:
        time.sleep(seconds)
    elif stop.is_set() or stop.wait(seconds):
        raise Interrupted(f"{source}: stopped while {why}; the next run resumes from the "
                          "saved cursor", source=source)


class RateLimiter:
    """Reads a source's rate-limit headers and pauses before the next request when it is spent.

    Understands Reddit's and Mastodon's `X-Ratelimit-*`, X's `x-rate-limit-*` and the
    `RateLimit-*` draft headers Bluesky sends. A pause longer than MAX_WAIT raises
    RateLimited instead of sleeping, so the run ends and the next one resumes.
    """

    def __init__(self, source: str, *, sleep: Callable[[float], None] | None = None,
                 clock: Callable[[], float] = time.time, max_wait: float = MAX_WAIT,
                 stop: threading.Event | None = None) -> None:
        self.source = source
        #: Set by the scheduler on SIGTERM or Ctrl-C: waits end at once (Interrupted).
        self.stop = stop
        self.sleep = sleep or (lambda seconds: pause(seconds, self.stop, source,
                                                     "waiting for the rate limit to reopen"))
        self.clock = clock
        self.max_wait = max_wait
        self.resume_at: float | None = None

    def update(self, response: httpx.Response) -> None:
        remaining = None
        for name in ("X-Ratelimit-Remaining", "X-Rate-Limit-Remaining", "RateLimit-Remaining"):
            if name in response.headers:
                try:
                    remaining = float(response.headers[name])
                except ValueError:
                    remaining = None
                break
        if remaining is None or remaining >= 1:
            self.resume_at = None
            return
        wait = retry_after_seconds(response, now=self.clock())
        self.resume_at = self.clock() + (wait if wait is not None else 60.0)

    def wait(self) -> None:
        """Sleep until the window reopens (no-op when requests are left)."""
        if self.resume_at is None:
            return
        wait = self.resume_at - self.clock()
        if wait > self.max_wait:
            raise RateLimited(
                f"{self.source}: rate limit spent for {wait:.0f}s (more than {self.max_wait:.0f}s); "
                "stopping this run, the next one resumes from the saved cursor",
                source=self.source, retry_after=wait,
            )
        if wait > 0:
            log.info("%s: rate limit spent, waiting %.1fs", self.source, wait)
            self.sleep(wait)
        self.resume_at = None


def raise_for_status(response: httpx.Response, source: str) -> None:
    """Map an HTTP answer to the collector error tree (the one place statuses are read)."""
    status = response.status_code
    if status < 400:
        return
    where = f"{source}: {response.request.method} {response.request.url.copy_with(query=None)}"
    if status == 429:
        raise RateLimited(f"{where}: rate limited (429)", source=source,
                          retry_after=retry_after_seconds(response))
    if status in (401, 403):
        raise AuthError(f"{where}: refused ({status}); check the credentials", source=source)
    if status >= 500 or status == 408:
        raise TransientError(f"{where}: server error {status}", source=source)
    raise CollectorError(f"{where}: HTTP {status}: {response.text[:200]}", source=source)


def _retryable(exc: Exception) -> bool | float:
    """What stamina retries. `request` has already waited inside the failed attempt (where
    a stop can cut the wait short), so stamina retries at once."""
    if isinstance(exc, RateLimited):
        if exc.retry_after is not None and exc.retry_after > MAX_WAIT:
            return False  # give up this run; the cursor keeps our place
        return 0.0
    # A truncated body is usually a dropped connection: worth one more try.
    return 0.0 if isinstance(exc, TransientError | MalformedResponse) else False


def _wait_before_retry(exc: Exception, attempt: Any, attempts: int,
                       stop: threading.Event | None, source: str) -> None:
    """The wait before the next attempt, taken inside the failed one so that a stop (SIGTERM,
    Ctrl-C) ends it at once: the wait the server named for a rate limit, else stamina's
    jittered exponential backoff for this attempt (none under `stamina.set_testing`)."""
    if attempt.num >= attempts or _retryable(exc) is False:
        return
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        log.info("%s: rate limited, waiting %.1fs as the server asked", source, exc.retry_after)
        pause(exc.retry_after, stop, source, "waiting out a rate limit (429)")
    elif not stamina.is_testing():
        wait = float(attempt.next_wait)
        log.info("%s; retrying in %.1fs", exc, wait)
        pause(wait, stop, source, "backing off before a retry")


def decode_json(response: httpx.Response, source: str) -> Any:
    """The response body as JSON, or MalformedResponse quoting its first bytes."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedResponse(
            f"{source}: response is not valid JSON ({exc}); first bytes: {response.text[:80]!r}",
            source=source,
        ) from None


def request(
    client: httpx.Client, method: str, url: str, *, source: str, check: Check | None = None,
    limiter: RateLimiter | None = None, attempts: int = 4, decode: bool = False, **kwargs: Any,
) -> Any:
    """Send a request, retrying transient failures with jittered backoff, and rate limits
    after the wait the server names. Every wait ends at once when the limiter's stop is set
    (Interrupted: the run ends without an error and keeps its cursor).

    Returns the response, or its decoded JSON when `decode` is true. `check` maps the
    platform's own error answers first; statuses are then mapped by `raise_for_status`.
    Transport failures become TransientError so callers see only the collector error tree.
    """
    stop = limiter.stop if limiter is not None else None

    def retry(exc: Exception) -> bool | float:
        # No new attempt once a stop is asked for.
        return False if stop is not None and stop.is_set() else _retryable(exc)

    for attempt in stamina.retry_context(
        on=retry, attempts=attempts, timeout=RETRY_TIMEOUT,
        wait_initial=RETRY_WAIT_INITIAL, wait_max=RETRY_WAIT_MAX,
    ):
        with attempt:
            try:
                result = _send(client, method, url, source, check, limiter, decode, kwargs)
            except (RateLimited, TransientError, MalformedResponse) as exc:
                _wait_before_retry(exc, attempt, attempts, stop, source)
                raise
    return result


def _send(client: httpx.Client, method: str, url: str, source: str, check: Check | None,
          limiter: RateLimiter | None, decode: bool, kwargs: dict[str, Any]) -> Any:
    """One attempt: the response (or its JSON), or the collector error it amounts to."""
    shown = httpx.URL(url).copy_with(query=None)  # queries may carry keys: never show them
    if limiter is not None:
        limiter.wait()
    stop = limiter.stop if limiter is not None else None
    try:
        response = _send_with_deadline(client, method, url, kwargs, stop, source)
    except httpx.TimeoutException as exc:
        raise TransientError(f"{source}: timed out: {method} {shown}", source=source) from exc
    except httpx.TransportError as exc:
        raise TransientError(
            f"{source}: connection failed: {method} {shown}: {type(exc).__name__}",
            source=source,
        ) from exc
    if limiter is not None:
        limiter.update(response)
    if check is not None:
        check(response)  # the platform's own error answers
    raise_for_status(response, source)
    return decode_json(response, source) if decode else response


class _BodyDeadline(httpx.SyncByteStream):
    """A response body that gives up at an overall deadline or as soon as a stop is asked
    for, checked between reads, so a server sending one byte every few seconds cannot hold
    a collection (or a SIGTERM) for long."""

    def __init__(self, inner: httpx.SyncByteStream, deadline: float,
                 stop: threading.Event | None, source: str) -> None:
        self.inner, self.deadline, self.stop, self.source = inner, deadline, stop, source

    def __iter__(self):
        for chunk in self.inner:
            if self.stop is not None and self.stop.is_set():
                raise Interrupted(f"{self.source}: stopped while reading a response; the next "
                                  "run resumes from the saved cursor", source=self.source)
            if time.monotonic() > self.deadline:
                raise httpx.ReadTimeout(f"no complete answer within {REQUEST_DEADLINE:.0f}s")
            yield chunk

    def close(self) -> None:
        self.inner.close()


def _send_with_deadline(client: httpx.Client, method: str, url: str, kwargs: dict[str, Any],
                        stop: threading.Event | None, source: str) -> httpx.Response:
    """`client.request`, with the body read under REQUEST_DEADLINE and the stop event."""
    kwargs = dict(kwargs)  # the same kwargs serve every retry
    send_options = {k: kwargs.pop(k) for k in ("auth", "follow_redirects") if k in kwargs}
    built = client.build_request(method, url, **kwargs)
    response = client.send(built, stream=True, **send_options)
    try:
        response.stream = _BodyDeadline(response.stream, time.monotonic() + REQUEST_DEADLINE,
                                        stop, source)
        response.read()
    finally:
        response.close()
    return response


def get_json(
    client: httpx.Client, url: str, *, source: str, attempts: int = 4, check: Check | None = None,
    limiter: RateLimiter | None = None, **kwargs: Any,
) -> Any:
    """GET a URL and decode JSON (see `request`)."""
    return request(client, "GET", url, source=source, check=check, limiter=limiter,
                   attempts=attempts, decode=True, **kwargs)


class HttpCollector:
    """What every HTTP collector keeps: its client, base URL, environment and rate limiter.

    Subclasses set `name` and `default_base_url`. Tests pass a MockTransport client, a
    local base URL and a fake environment through the same door users pass real ones.
    """

    name = "http"
    default_base_url = ""

    def __init__(self, client: httpx.Client | None = None, base_url: str | None = None,
                 env: Mapping[str, str] | None = None, limiter: RateLimiter | None = None,
                 stop: threading.Event | None = None, **_: Any) -> None:
        self.client = client or make_client()
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.env = env
        self.limiter = limiter or RateLimiter(self.name)
        if stop is not None:
            self.limiter.stop = stop

    # pages, with the platform's waits kept in the cursor ---------------------------------

    def pages(self, story: Story, cursor: str | None, options: dict[str, Any]) -> Iterator[Page]:
        """Yield pages of new posts, honouring a wait the platform asked for in an earlier run.

        A rate limit that ends the run (a `Retry-After` or reset longer than MAX_WAIT, a
        spent daily quota) is saved with the cursor, and runs before that time make no
        request at all: they stop at once with RateLimited saying when the wait ends.
        """
        state = CursorState(cursor)
        resume = state.resume_at()
        now = utcnow()
        if resume is not None and resume > now:
            left = (resume - now).total_seconds()
            raise RateLimited(
                f"{self.name}: the platform asked us to wait until "
                f"{resume.strftime('%Y-%m-%d %H:%M:%S UTC')} ({left:.0f}s more); no request "
                "made, the next run after that resumes from the saved cursor",
                source=self.name, retry_after=left)
        if resume is not None:
            state.wait_until(None)
        try:
            yield from self.collect_pages(story, state, options)
        except RateLimited as exc:
            if exc.retry_after and not getattr(exc, "kept_in_cursor", False):
                state.wait_until(utcnow() + timedelta(seconds=exc.retry_after))
                yield Page([], state.dump())
            raise

    def collect_pages(self, story: Story, state: CursorState,
                      options: dict[str, Any]) -> Iterator[Page]:
        """The platform's paging: each yielded page carries `state.dump()` as its cursor."""
        raise NotImplementedError
