"""Leases in the store: one owner at a time for work that must not run twice at once.

A lease is a row (name, owner, expires_at). Taking it is one upsert that succeeds only
when the row is absent, expired, or already ours, so it is atomic on SQLite and on
PostgreSQL alike, across processes and machines. While the work runs a heartbeat thread
renews it; a process killed mid-work stops renewing and its lease lapses after `ttl`
seconds (or at once, when a process on the same machine finds its owner is gone).

Names used: `collect:<story>:<source>` (paging a source) and `classify:<story>`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import Any

log = logging.getLogger(__name__)

#: Default lease length in seconds; the heartbeat renews it every third of that.
DEFAULT_TTL = 120.0
INTERRUPTED = ("interrupted: the process stopped before this run finished; "
               "the next run resumes from the saved cursor")


def collect_lease_name(story: str, source: str) -> str:
    return f"collect:{story}:{source}"


def new_owner() -> str:
    """A unique owner id that says where it lives: host, process id, random suffix."""
    return f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _host() -> str:
    """This machine's name plus its process-id namespace (two containers may share a host
    name but not their process ids), so `_gone` only judges processes it can see."""
    try:
        namespace = "".join(ch for ch in os.readlink("/proc/self/ns/pid") if ch.isdigit())
    except OSError:
        namespace = ""
    # the owner column holds 200 characters
    return f"{socket.gethostname()[:150]}/{namespace}" if namespace else socket.gethostname()[:150]


def try_acquire(store: Any, name: str, owner: str, ttl: float) -> bool:
    """Take the lease if it is free, expired or already `owner`'s; True when we hold it."""
    return store.try_acquire_lease(name, owner, ttl)


def renew(store: Any, name: str, owner: str, ttl: float) -> bool:
    """Push the expiry on; False when the lease is no longer ours (it lapsed and was taken)."""
    return store.renew_lease(name, owner, ttl)


def release(store: Any, name: str, owner: str) -> None:
    store.release_lease(name, owner)


def holder(store: Any, name: str) -> str | None:
    """Who holds the lease now (None when it is free or expired)."""
    return store.lease_holder(name)


class Lease:
    """`with Lease(store, name) as held:` holds the lease for the block when `held` is true,
    renewing it in the background, and gives it back at the end."""

    def __init__(self, store: Any, name: str, *, ttl: float | None = None) -> None:
        self.store, self.name = store, name
        self.ttl = float(ttl if ttl is not None else lease_seconds())
        self.owner = new_owner()
        self.held = False
        self._done = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def __enter__(self) -> bool:
        self.held = try_acquire(self.store, self.name, self.owner, self.ttl)
        if self.held:
            self._heartbeat = threading.Thread(target=self._renew, daemon=True,
                                               name=f"lease {self.name}")
            self._heartbeat.start()
        return self.held

    def _renew(self) -> None:
        while not self._done.wait(self.ttl / 3):
            try:
                if not renew(self.store, self.name, self.owner, self.ttl):
                    log.warning("lease %s lapsed and was taken by another process", self.name)
                    return
            except Exception:  # a database hiccup: try again at the next beat
                log.exception("could not renew lease %s", self.name)

    def __exit__(self, *exc: Any) -> None:
        self._done.set()
        if self.held:
            try:
                release(self.store, self.name, self.owner)
            except Exception:  # it lapses by itself after ttl
                log.exception("could not release lease %s", self.name)


def lease_seconds() -> float:
    from reactions.config import get_settings

    return float(get_settings().lease_seconds)


def _gone(owner: str) -> bool:
    """True when the owner was a process on this machine that no longer exists."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != _host() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def clear_dead_owners(store: Any) -> int:
    """Drop leases whose owner was a process on this machine that has died (kill -9, a crash)."""
    dead = [(name, owner) for name, owner in store.lease_owners() if _gone(owner)]
    for name, owner in dead:
        release(store, name, owner)
    return len(dead)


def close_interrupted_runs(store: Any) -> int:
    """Close run rows left open by a process that died: open runs whose source's lease is
    no longer held. Returns how many were closed."""
    clear_dead_owners(store)
    closed = store.close_open_runs(
        lambda story, source, live: collect_lease_name(story, source) not in live, INTERRUPTED)
    if closed:
        log.warning("closed %d run(s) left open by a stopped process", closed)
    return closed
