"""`reactions collect [STORY]`: fetch new posts from each source of a story, once.

Each source reports in one line. Retries are not logged one by one: the progress bar
says which retry is under way, and the source's line says how many there were. A source
whose credentials are missing is skipped at once, in one line naming the variables.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

HELP = "collect new posts for a story (or every active story) once"


def add_arguments(parser) -> None:
    from reactions.commands._common import story_argument

    story_argument(parser, nargs="?")
    parser.add_argument("--source", action="append", help="only this source (repeatable)")


class RetryCounter:
    """A stamina on-retry hook: counts retries and shows the latest on the progress bar."""

    def __init__(self) -> None:
        self.count = 0
        self.waited = 0.0
        self.on_retry = None

    def __call__(self, details) -> None:
        self.count += 1
        self.waited += details.wait_for
        if self.on_retry:
            self.on_retry(details)


@contextmanager
def quiet_retries(verbose: bool) -> Iterator[RetryCounter]:
    """For the command's duration: stamina's one-warning-per-retry logging replaced by a
    counter (kept as well with -v), and the pipeline's per-source log lines silenced, since
    each source's outcome is printed. Both are restored afterwards."""
    import stamina.instrumentation as instrumentation

    counter = RetryCounter()
    before = instrumentation.get_on_retry_hooks()
    pipeline_log = logging.getLogger("reactions.pipeline")
    level = pipeline_log.level
    instrumentation.set_on_retry_hooks([*before, counter] if verbose else [counter])
    if not verbose:
        pipeline_log.setLevel(logging.CRITICAL)
    try:
        yield counter
    finally:
        instrumentation.set_on_retry_hooks(list(before))
        pipeline_log.setLevel(level)


def run(args) -> int:
    from reactions.commands._common import open_store, progress_bar, stories_for
    from reactions.pipeline import collect

    store = open_store()
    failed = False
    stories = stories_for(store, args.story)
    check_sources(args.source, stories)
    with quiet_retries(getattr(args, "verbose", False)) as retries:
        for story in stories:
            for source in story.sources:
                if args.source and source.name not in args.source:
                    continue
                where = f"{story.slug}/{source.name}"
                retries.count, retries.waited = 0, 0.0
                with progress_bar(f"collecting {where}", unit="posts") as advance:
                    retries.on_retry = lambda d, advance=advance, where=where: advance.describe(
                        f"collecting {where} (retry {d.retry_num}: {type(d.caused_by).__name__})")
                    results = collect(store, story, sources=[source.name], progress=advance)
                for r in results:
                    print(source_line(story.slug, r, retries))
                    if r.error and "credentials missing" not in r.error:
                        failed = True
    return 1 if failed else 0


def source_line(slug: str, result, retries: RetryCounter) -> str:
    """One line per source: what was added, what was skipped, why it stopped."""
    where = f"{slug}/{result.source}"
    if result.error and "credentials missing" in result.error:
        reason = result.error.split(": ", 1)[-1]
        return f"{where}: {reason}"
    if result.busy:
        return f"{where}: skipped, another process is collecting it now"
    if result.waiting_until is not None and not result.pages and not result.error:
        return (f"{where}: skipped, the platform asked us to wait until "
                f"{result.waiting_until:%Y-%m-%d %H:%M:%S} UTC")
    line = f"{where}: {result.added} new posts in {result.pages} pages"
    if result.skipped:
        line += f", {len(result.skipped)} malformed items skipped"
    if retries.count:
        line += f" ({retries.count} {'retry' if retries.count == 1 else 'retries'})"
    if result.error:
        line += f"; stopped: {result.error}"
    if result.waiting_until is not None:
        line += f"; no request before {result.waiting_until:%Y-%m-%d %H:%M:%S} UTC"
    return line


def check_sources(names, stories) -> None:
    """ValueError (one line, exit 2) for a `--source` no collector has or no story uses."""
    from collectors.base import REGISTRY

    for name in names or []:
        if name not in REGISTRY:
            raise ValueError(f"unknown source {name!r}; known sources: {', '.join(sorted(REGISTRY))}")
        if not any(s.name == name for story in stories for s in story.sources):
            used = ", ".join(sorted({s.name for story in stories for s in story.sources}))
            if len(stories) == 1:
                raise ValueError(f"{stories[0].slug} has no {name} source; "
                                 f"sources in use: {used or 'none'}")
            raise ValueError(f"no active story has a {name} source; "
                             f"sources in use: {used or 'none'}")
