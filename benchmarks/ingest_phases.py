"""Where ingest time goes: CPU and wall time per post of each step of `store_page`.

Runs `benchmarks/ingest.py`'s "ours" measurement in this process with each step wrapped
in a timer (no profiler, whose per-call overhead inflates Python-heavy steps several
times). Steps nest: `store_page` holds all the others but `parse`, and `prepare_posts`
holds `detect_language`. Wall time above CPU time in a step is time spent waiting: on the database server
(PostgreSQL), on the disk, or for a CPU on a loaded machine.

    python benchmarks/ingest_phases.py                    # SQLite, 20,000 posts
    python benchmarks/ingest_phases.py postgresql 100000

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ingest  # noqa: E402

STEPS = {  # module -> functions timed (the store's methods on the Store class)
    "nlp.text": ["dedup_keys", "detect_language"],
    "reactions.pipeline": ["store_page", "prepare_posts", "link_reposts"],
    "reactions.store:Store": ["upsert_posts", "dedup_owners", "file_duplicates", "save_cursor"],
    "collectors.bluesky": ["parse"],
}


def instrument() -> dict[str, list[float]]:
    """Wrap each step; returns name -> [CPU seconds, wall seconds], filled as it runs."""
    import importlib

    spent: dict[str, list[float]] = {}

    def timed(name, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            cpu, wall = time.process_time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                total = spent.setdefault(name, [0.0, 0.0])
                total[0] += time.process_time() - cpu
                total[1] += time.perf_counter() - wall
        return wrapper

    for where, names in STEPS.items():
        module_name, _, class_name = where.partition(":")
        owner = importlib.import_module(module_name)
        if class_name:
            owner = getattr(owner, class_name)
        for name in names:
            setattr(owner, name, timed(name, getattr(owner, name)))
    return spent


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    # Load the language model and datasketch first, as the measured run's own warm-up
    # (one text each) is counted in its steps.
    from nlp.text import dedup_keys, detect_language

    detect_language("warm up the language model please")
    dedup_keys(["warm up the minhash permutations"])
    spent = instrument()
    result = ingest.child(kind, "ours", count)
    print(f"{kind}, {count} posts: {result['posts_per_s']:.0f} posts/s, "
          f"{result['posts_per_cpu_s']:.0f} per CPU second of this process")
    print(f"  {'step':16} {'CPU us/post':>12} {'wall us/post':>13}")
    for name, (cpu, wall) in sorted(spent.items(), key=lambda item: -item[1][1]):
        print(f"  {name:16} {cpu / count * 1e6:12.1f} {wall / count * 1e6:13.1f}")
    result["steps_us_per_post"] = {name: {"cpu": round(cpu / count * 1e6, 1),
                                          "wall": round(wall / count * 1e6, 1)}
                                   for name, (cpu, wall) in spent.items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
