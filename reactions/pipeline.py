"""The application's work as plain functions: collect, classify, summarize.

The CLI and the scheduler both call these, so there is exactly one way to do each thing.
Each takes the store and the story explicitly, plus optional seams (HTTP clients, a
classifier, a writer) that tests fill with fakes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from collectors.base import (
    REPOST_OF,
    CollectorError,
    Interrupted,
    MissingCredentials,
    get_collector,
)
from reactions.models import (
    SLIDING_SUMMARY_MAX_AGE,
    UNCLASSIFIED,
    Post,
    StancePrediction,
    Story,
    Summary,
    SummaryPayload,
    utcnow,
)
from reactions.store import Store
from reactions.stories import load_story_file, seed_story_files
from reactions.waits import saved_wait

log = logging.getLogger(__name__)
Progress = Callable[[int], None]


@dataclass
class SourceResult:
    """What one source's collection run did."""

    story: str
    source: str
    added: int = 0
    pages: int = 0
    skipped: list[str] = field(default_factory=list)
    error: str | None = None
    #: Another process held this source's lease: nothing was fetched, no run recorded.
    busy: bool = False
    #: The platform asked us to wait until then (a long Retry-After or rate-limit reset,
    #: saved with the cursor): set when this run was skipped for it (nothing fetched, no
    #: run recorded) or when this run ended on it.
    waiting_until: datetime | None = None


def load_seed_stories(store: Store, seeds_dir) -> list[Story]:
    """Add or refresh every story defined in the seeds folder."""
    stories = []
    for path in seed_story_files(seeds_dir):
        story = load_story_file(path)
        store.save_story(story)
        stories.append(story)
    return stories


def prepare_posts(posts: Sequence[Post]) -> None:
    """Tag each post's language from its text (platform tags are often wrong).

    A confident detection wins over the platform's tag. When detection is unsure and its
    best guess disagrees with the tag (a server tagging English toots `ja`), the tag is not
    trusted either: the language is left unknown, so the post is still classified rather
    than set aside as another language, and `raw["language_unsure"]` records both.
    """
    from nlp.text import detect_language

    for post in posts:
        tagged = post.language
        detected = detect_language(post.text)
        if detected or not tagged:
            post.language = detected or tagged
            continue
        guess = detect_language(post.text, min_score=0.0)
        if guess and guess != tagged:
            post.language = None
            post.raw = {**post.raw, "language_unsure": {"tagged": tagged, "guess": guess}}


def store_page(
    store: Store, story: str, source: str, posts: Sequence[Post], cursor: str | None, *,
    save_cursor: bool = True,
) -> int:
    """Store one page: language tags, posts, duplicate links and the cursor in one transaction.

    The text work (language, MinHash keys) is done before the transaction opens, so the
    database is locked only for the writes. Returns how many posts are new to the story.
    """
    from nlp.text import dedup_keys
    from reactions.store import make_storable

    make_storable(posts)  # no NUL or lone surrogate reaches the language model or the database
    prepare_posts(posts)
    keys = dedup_keys([p.text for p in posts])
    # A page committed with its cursor can skip the disk flush: a crash loses both, and the
    # page is fetched again. An import has no cursor to fall back on, so it flushes.
    with store.begin(flush=not save_cursor) as conn:
        added = store.upsert_posts(story, posts, source=source, conn=conn)
        link_new_duplicates(store, story, posts, keys, conn=conn)
        if save_cursor:
            store.save_cursor(story, source, cursor, conn=conn)
    return added


def link_new_duplicates(
    store: Store, story: str, posts: Sequence[Post], keys: Sequence[Sequence[int]], *, conn: Any,
) -> int:
    """Link stored posts that repeat a post the story already has (or an earlier one of these).

    A repost (retweet, boost: `raw["repost_of"]` names its original's key) is linked to
    that original by key, wherever it was stored, and files no keys of its own. Every other
    post is matched by its MinHash keys; only the new posts' keys are looked up, so the
    cost does not grow with the story. A post already filed as an original stays one;
    returns how many posts were linked.
    """
    links = link_reposts(store, posts, conn=conn)
    owners = store.dedup_owners(story, [k for ks in keys for k in ks], conn=conn)
    new_keys: list[tuple[int, int]] = []
    for post, post_keys in zip(posts, keys):
        if post.id in links:
            continue
        found = {owners[k] for k in post_keys if k in owners}
        if post.id is None or not post_keys or post.id in found:
            continue
        if found:
            links[post.id] = post.duplicate_of = min(found)
            continue
        for key in post_keys:
            owners[key] = post.id
            new_keys.append((key, post.id))
    store.file_duplicates(story, new_keys, links, conn=conn)
    return len(links)


def link_reposts(store: Store, posts: Sequence[Post], *, conn: Any) -> dict[int, int]:
    """Repost id -> its original's id, for the stored reposts among these posts whose
    original is stored (in this batch or before); sets each repost's `duplicate_of`."""
    reposts = [p for p in posts if p.id is not None and isinstance(p.raw.get(REPOST_OF), str)]
    if not reposts:
        return {}
    ids = {p.key: p.id for p in posts if p.id is not None}
    wanted = {p.raw[REPOST_OF] for p in reposts} - ids.keys()
    pairs = [tuple(key.split(":", 1)) for key in wanted if ":" in key]
    ids.update({f"{platform}:{native}": pid
                for (platform, native), pid in store.post_ids(pairs, conn=conn).items()})
    links: dict[int, int] = {}
    for post in reposts:
        original = ids.get(post.raw[REPOST_OF])
        if original is not None and original != post.id:
            links[post.id] = post.duplicate_of = original
        else:
            log.warning("%s repeats %s, which is not stored: linked by its text instead",
                        post.key, post.raw[REPOST_OF])
    return links


def collect_source(
    store: Store, story: Story, source: str, *, options: dict[str, Any] | None = None,
    collector: Any = None, stop: threading.Event | None = None, progress: Progress | None = None,
    next_run: datetime | Callable[[], datetime | None] | None = None,
) -> SourceResult:
    """Run one source for one story: each page is committed with its cursor before the next.

    Errors end this source's run (recorded in `runs` with the reason); the saved cursor
    means the next run resumes where this one stopped. The source's lease in the store
    makes sure no other process or thread pages it meanwhile: when it is held elsewhere,
    nothing is fetched and the result says `busy`. While a wait the platform asked for
    (saved with the cursor: `reactions.waits`) is ahead, nothing is fetched either, no run
    is recorded, and the result says until when (`waiting_until`).
    """
    from reactions.leases import Lease, collect_lease_name

    result = SourceResult(story.slug, source)
    with Lease(store, collect_lease_name(story.slug, source)) as held:
        if not held:
            result.busy = True
            log.info("%s/%s: another process is collecting it; skipped", story.slug, source)
            return result
        result.waiting_until = saved_wait(store, story.slug, source)
        if result.waiting_until is not None:
            log.info("%s/%s: the platform asked us to wait until %s; skipped", story.slug,
                     source, f"{result.waiting_until:%Y-%m-%d %H:%M:%S} UTC")
            return result
        return _collect_held(store, story, source, result, options=options, collector=collector,
                             stop=stop, progress=progress, next_run=next_run)


def _collect_held(
    store: Store, story: Story, source: str, result: SourceResult, *,
    options: dict[str, Any] | None, collector: Any, stop: threading.Event | None,
    progress: Progress | None, next_run: datetime | Callable[[], datetime | None] | None,
) -> SourceResult:
    """`collect_source`'s work, once the source's lease is held."""
    if options is None:
        options = next((s.options for s in story.sources if s.name == source), {})
    run_id = store.start_run(story.slug, source)
    try:
        collector = collector or get_collector(source)
        cursor = store.get_cursor(story.slug, source)
        for page in collector.pages(story, cursor, options):
            added = store_page(store, story.slug, source, page.posts, page.cursor)
            result.added += added
            result.pages += 1
            result.skipped.extend(page.skipped)
            for reason in page.skipped:
                log.warning("%s/%s: skipped an item: %s", story.slug, source, reason)
            if progress:
                progress(len(page.posts))
            if stop is not None and stop.is_set():
                log.info("%s/%s: stopping after the page in flight", story.slug, source)
                break
    except MissingCredentials as exc:
        result.error = str(exc)
        log.warning("%s", exc)
    except Interrupted as exc:  # a stop during a rate-limit or backoff wait: not an error
        log.info("%s/%s: %s", story.slug, source, exc)
    except CollectorError as exc:
        result.error = str(exc)
        log.error("%s/%s: %s", story.slug, source, exc)
    except Exception as exc:  # a bug or an unexpected answer: record it, keep the scheduler up
        result.error = f"unexpected {type(exc).__name__}: {exc}"
        log.exception("%s/%s: unexpected error", story.slug, source)
    finally:
        when = next_run() if callable(next_run) else next_run
        result.waiting_until = saved_wait(store, story.slug, source)
        if when is not None and result.waiting_until is not None:
            when = max(when, result.waiting_until)  # the scheduler moves the run there
        store.finish_run(run_id, added=result.added, pages=result.pages, error=result.error,
                         next_run=when)
    return result


def collect(
    store: Store, story: Story, *, sources: Sequence[str] | None = None,
    stop: threading.Event | None = None, progress: Progress | None = None,
) -> list[SourceResult]:
    """Collect every (or the named) source of a story, one after another."""
    results = []
    for source in story.sources:
        if sources and source.name not in sources:
            continue
        results.append(collect_source(store, story, source.name, options=source.options,
                                      stop=stop, progress=progress))
        if stop is not None and stop.is_set():
            break
    return results


def link_duplicates(store: Store, story: str) -> int:
    """Re-link every post of the story from scratch, oldest first (after a threshold change,
    or for posts stored before dedup keys existed); returns how many are repeats."""
    from nlp.text import dedup_keys

    posts = sorted(store.posts(story), key=lambda p: (p.created_at or p.collected_at, p.id))
    linked = 0
    with store.begin() as conn:
        store.clear_duplicates(story, conn=conn)
        for start in range(0, len(posts), 1000):
            chunk = posts[start : start + 1000]
            linked += link_new_duplicates(store, story, chunk, dedup_keys([p.text for p in chunk]),
                                          conn=conn)
    return linked


#: Posts classified (embedded, predicted and saved) at a time.
CLASSIFY_CHUNK = 1000


def classify(
    store: Store, story: Story, *, classifier: Any = None, model: str | None = None,
    progress: Progress | None = None, redo: bool = False,
) -> dict[str, int]:
    """Classify the story's posts that have no stance yet; returns counts by label.

    Posts in a language the classifier does not handle are stored as unclassified with the
    reason `language:xx`, never forced into a bucket. Editors' labels adapt the classifier
    to the story first. Embeddings are stored for reuse by the summary.
    """
    if redo:
        store.clear_stances(story.slug)
    posts = store.posts_without_stance(story.slug)
    counts: dict[str, int] = {}
    if not posts:
        return counts
    if classifier is None:
        from nlp.stance import load_classifier
        from reactions.config import get_settings

        classifier = load_classifier(model, review_below=get_settings().review_threshold)
    labelled = store.labels(story.slug)
    if labelled:
        human = {pid: (text, label) for pid, text, label, source in labelled if source == "human"}
        teacher = {pid: (text, label) for pid, text, label, source in labelled
                   if source == "teacher" and pid not in human}
        examples = list(human.values()) + list(teacher.values())
        classifier = classifier.adapt([t for t, _ in examples], [lab for _, lab in examples],
                                      story.claim)
    handled = getattr(classifier, "languages", None)
    results: list[tuple[int, StancePrediction]] = []
    todo = []
    from nlp.stance.contract import skip_reason, skipped

    for post in posts:
        reason = skip_reason(post.text, post.language, handled)
        if reason is None:
            todo.append(post)
        else:
            results.append((post.id, skipped(reason)))
    name = getattr(classifier, "name", type(classifier).__name__)
    # A large backlog is classified in bounded chunks, each saved before the next is read, so
    # memory stays flat and an interrupted run keeps what it classified.
    for start in range(0, len(todo), CLASSIFY_CHUNK):
        chunk = todo[start : start + CLASSIFY_CHUNK]
        embeddings = None
        encoder = getattr(classifier, "encoder", None)
        if encoder is not None:
            stored = store.embeddings(encoder.name, [p.id for p in chunk])
            missing = [p for p in chunk if p.id not in stored]
            if missing:
                vectors = encoder.encode([p.text for p in missing], progress=progress)
                fresh = {p.id: v for p, v in zip(missing, vectors)}
                store.save_embeddings(encoder.name, fresh)
                stored.update(fresh)
            import numpy as np

            embeddings = np.stack([stored[p.id] for p in chunk])
        options = {}
        if getattr(classifier, "multilingual", None) is not None:
            # Posts in the multilingual model's languages are read by it, not left unclassified.
            options["languages"] = [p.language for p in chunk]
        predictions = classifier.predict([p.text for p in chunk], story.claim,
                                         embeddings=embeddings, **options)
        done = list(zip((p.id for p in chunk), predictions))
        store.save_stances(story.slug, done, name)
        for _, prediction in done:
            counts[prediction.label] = counts.get(prediction.label, 0) + 1
    store.save_stances(story.slug, results, name)
    for _, prediction in results:
        counts[prediction.label] = counts.get(prediction.label, 0) + 1
    return counts


def parse_window(text: str | None) -> timedelta | None:
    """'6h', '2d', '30m', '1w' to a timedelta; None or '' means all time."""
    if not text:
        return None
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    text = text.strip()
    number, unit = text[:-1], text[-1:].lower()
    if unit not in units or not number.isdigit() or int(number) <= 0:
        raise ValueError(f"window {text[:40]!r} is not like 30m, 6h, 2d or 1w")
    try:
        window = timedelta(**{units[unit]: int(number)})
        utcnow() - window  # reaches back before year 1?
    except OverflowError:
        raise ValueError(f"window {text[:40]!r} reaches back further than dates go; "
                         "use a shorter one, like 30d or 52w") from None
    return window


def _stored_or_encoded(store: Store, posts: Sequence[Post], name: str,
                       load: Callable[[], Any]) -> dict:
    """The posts' stored vectors of encoder `name`; missing ones are encoded (by the encoder
    `load` returns, called only then) and stored."""
    ids = [p.id for p in posts if p.id is not None]
    stored = store.embeddings(name, ids) if ids else {}
    missing = [p for p in posts if p.id is not None and p.id not in stored]
    if missing:
        fresh = {p.id: v for p, v in zip(missing, load().encode([p.text for p in missing]))}
        store.save_embeddings(name, fresh)
        stored.update(fresh)
    return stored


def theme_embeddings(
    store: Store, posts: Sequence[Post], *, encoder: Any = None, encoder_name: str | None = None,
) -> tuple[dict[int, Any], str]:
    """Embeddings of the posts for themes: those classification stored, the missing ones encoded.

    Only buckets big enough to hold a theme need vectors, so tiny stories load no encoder.
    Returns (post id -> vector, encoder name).
    """
    from nlp.embed import DEFAULT_ENCODER, load_encoder
    from reactions.config import get_settings

    name = getattr(encoder, "name", None) or encoder_name or get_settings().encoder_model \
        or DEFAULT_ENCODER
    return _stored_or_encoded(store, posts, name, lambda: encoder or load_encoder(
        None if name == DEFAULT_ENCODER else name)), name


#: (database, theme encoder) pairs whose superseded theme vectors this process dropped.
_PRUNED: set[tuple[str, str]] = set()


def theme_points(store: Store, posts: Sequence[Post], encoder_name: str | None) -> dict | None:
    """The posts' vectors from the theme encoder trained on top of `encoder_name` (stored
    with the embeddings under its own name, the missing ones encoded once); None when no
    theme encoder was trained for that encoder. The first call per database drops the
    vectors of earlier theme-encoder weights (their names carry another digest)."""
    from nlp.theme_encoder import for_encoder

    model = for_encoder(encoder_name)
    if model is None:
        return None
    key = (str(store.engine.url), model.name)
    if key not in _PRUNED:
        store.drop_embeddings(f"{encoder_name}+themes", keep=model.name)
        _PRUNED.add(key)
    return _stored_or_encoded(store, posts, model.name, lambda: model)


def writer_from_settings(settings: Any = None, style: str = "brief") -> Any:
    """The summary writer the settings choose (REACTIONS_SUMMARY_WRITER and friends), its
    template sentences (and fallbacks) in `style` ("brief" or "detailed")."""
    from nlp.summarize import TemplateWriter, get_writer
    from reactions.config import get_settings

    settings = settings or get_settings()
    if settings.summary_writer == "openai":
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return get_writer("openai", base_url=settings.openai_base_url,
                          model=settings.summary_model, api_key=key,
                          fallback=TemplateWriter(style))
    if settings.summary_writer == "local":
        return get_writer("local", model=settings.summary_model, fallback=TemplateWriter(style))
    return get_writer("template", style=style)


def story_evidence(
    store: Store, story: Story, *, since: timedelta | None = None, now: datetime | None = None,
    encoder: Any = None,
) -> Any:
    """The evidence the paragraph is written from (`nlp.summarize.Evidence`) for the window."""
    from nlp.summarize import build_evidence
    from nlp.themes import MIN_SIZE
    from reactions.models import BUCKETS

    now = now or utcnow()
    start = now - since if since else None
    items = store.classified_posts(story.slug, since=start, until=now if since else None)
    previous = (store.bucket_counts(story.slug, since=start - since, until=start)
                if since else None)
    by_bucket: dict[str, list[Post]] = {}
    for post, prediction in items:
        if post.duplicate_of is None and prediction.label in BUCKETS:
            by_bucket.setdefault(prediction.label, []).append(post)
    need = [p for posts in by_bucket.values() if len(posts) >= MIN_SIZE for p in posts]
    embeddings, encoder_name = (theme_embeddings(store, need, encoder=encoder) if need
                                else ({}, None))
    points = theme_points(store, need, encoder_name) if need else None
    return build_evidence(story, items, embeddings=embeddings, encoder=encoder_name,
                          points=points, previous=previous, window=since, window_end=now)


def summarize(
    store: Store, story: Story, *, since: timedelta | None = None, writer: Any = None,
    now: datetime | None = None, save: bool = True, encoder: Any = None, style: str = "brief",
) -> Summary:
    """Write (and store) the "What people are saying" paragraph for the story's window.

    The evidence reuses the embeddings classification stored (`encoder` encodes only the
    missing ones); with a window, each bucket is compared with the previous window of the
    same length. The summary is stored with its window, sentences, citations and evidence.
    """
    now = now or utcnow()
    evidence = story_evidence(store, story, since=since, now=now, encoder=encoder)
    writer = writer or writer_from_settings(style=style)
    written = writer.write(evidence)
    # The story's labels when it was written (see render.stance_caveat).
    summary = make_summary(story.slug, evidence, written, now=now, since=since,
                           labels=store.label_counts(story.slug))
    if save:
        store.save_summary(summary)
    return summary


def current_summary(
    store: Store, story: Story, *, since: timedelta | None = None, now: datetime | None = None,
    style: str = "brief", fresh: bool = False, max_age: timedelta = SLIDING_SUMMARY_MAX_AGE,
    **options: Any,
) -> Summary:
    """The summary of this window that every surface shows: the stored one while it is up to
    date, else a new one, written and stored now.

    A stored summary is stale once a post of the story is classified or labelled after it
    (`Store.last_changed_at`); one for a sliding window also once it is `max_age` old, as
    the window has moved. `options` go to `summarize` (writer, encoder).
    """
    now = now or utcnow()
    if not fresh:
        newer_than = store.last_changed_at(story.slug)
        if since is not None:
            recent = now - max_age
            newer_than = max(newer_than, recent) if newer_than else recent
        stored = store.summary_for_window(story.slug, since, newer_than=newer_than)
        if stored is not None and (stored.payload or {}).get("style", "detailed") == style:
            return stored
    return summarize(store, story, since=since, now=now, style=style, **options)


def make_summary(
    slug: str, evidence: Any, written: Any, *, now: datetime, since: timedelta | None = None,
    labels: dict[str, int] | None = None, caveat: str | None = None,
) -> Summary:
    """The one summary shape every surface reads (blurb, dashboard, digests, summarize-file):
    the paragraph, counts, and a payload with its sentences, evidence lines, numbered
    citations, period, per-bucket evidence and the label counts behind the caveat."""
    from nlp.summarize import citations, evidence_json

    counts = {name: b.count for name, b in evidence.buckets.items()}
    counts[UNCLASSIFIED] = evidence.unclassified
    payload: SummaryPayload = {
        "sentences": [vars(s) for s in written.sentences],
        "evidence": [vars(s) for s in written.evidence],
        "citations": citations(written),
        "style": written.style,
        # The period the numbers and the paragraph cover (all time: from the first post).
        "period": {"start": evidence.period_start.isoformat() if evidence.period_start
                   else None, "end": now.isoformat(), "words": evidence.period},
        "replaced": written.replaced,
        "platforms": evidence.platforms,
        "platform_counts": evidence.platform_counts,
        "shares": {name: b.share for name, b in evidence.buckets.items()},
        "buckets": evidence_json(evidence),
        "window_seconds": int(since.total_seconds()) if since else None,
        "labels": labels,
    }
    if caveat is not None:
        payload["caveat"] = caveat
    return Summary(story=slug, paragraph=written.paragraph, counts=counts, writer=written.writer,
                   created_at=now, window_start=now - since if since else None, window_end=now,
                   payload=payload)


def process_story(
    store: Store, story: Story, *, classifier: Any = None, stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Collect, then classify and summarize when anything new arrived or the stored summary is
    stale (a post classified or labelled after it was written): one scheduler tick."""
    results = collect(store, story, stop=stop)
    added = sum(r.added for r in results)
    summary = None
    if added or summary_stale(store, story.slug):
        classify(store, story, classifier=classifier)
        summary = summarize(store, story)
    return {"added": added, "results": results, "summary": summary}


def summary_stale(store: Store, slug: str) -> bool:
    """Whether the story's all-time summary (the one the scheduler keeps) is missing, or was
    written before a post of the story was classified or labelled."""
    latest = store.summary_for_window(slug, None)
    changed = store.last_changed_at(slug)
    return latest is None or (changed is not None and changed >= latest.created_at)
