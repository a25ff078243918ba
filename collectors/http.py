"""HTTP plumbing shared by the platform collectors: one client per source, status mapping,
and retries with backoff that honour Retry-After with a cap on any single wait."""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import stamina

from collectors.base import (
    AuthError,
    CollectorError,
    MalformedResponse,
    RateLimited,
    TransientError,
)
from reactions import __version__

log = logging.getLogger(__name__)

USER_AGENT = f"reactions/{__version__} (newsroom reaction monitor; +https://github.com/reactions)"
#: The longest we ever sleep for one Retry-After, in seconds; longer waits end the run.
MAX_WAIT = 300.0


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


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (Retry-After as seconds or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


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
    if isinstance(exc, RateLimited):
        if exc.retry_after is not None and exc.retry_after > MAX_WAIT:
            return False  # give up this run; the cursor keeps our place
        return exc.retry_after if exc.retry_after is not None else True
    return isinstance(exc, TransientError | httpx.TransportError)


def get_json(
    client: httpx.Client, url: str, *, source: str, attempts: int = 4,
    sleep: Callable[[float], None] | None = None, **kwargs: Any,
) -> Any:
    """GET a URL and decode JSON, retrying transient failures with jittered backoff.

    Raises MalformedResponse for a body that is not JSON, and the mapped error once the
    retries are spent.
    """
    for attempt in stamina.retry_context(on=_retryable, attempts=attempts, wait_max=MAX_WAIT):
        with attempt:
            try:
                response = client.get(url, **kwargs)
            except httpx.TimeoutException as exc:
                raise TransientError(f"{source}: timed out: {url}", source=source) from exc
            raise_for_status(response, source)
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedResponse(
            f"{source}: response is not valid JSON ({exc}); first bytes: {response.text[:80]!r}",
            source=source,
        ) from None
