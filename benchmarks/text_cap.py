"""Memory and time to take in one huge post, with the collectors' text cap and without it.

A JSONL file holds one 10 MB post (the size of the issue's report) and a few ordinary
ones. Both paths do the same work on it: the file source reads and parses it, then the
pipeline's text work before storing (language detection, MinHash dedup keys). They
differ only in the text that work sees:

- ours: the post as the file source returns it, cut at `MAX_TEXT_CHARS` and flagged;
- baseline: the same post with its whole text put back, as the file source kept it before.

Storage and classification are left out (the classifier needs model weights); they grow
with the text too. Each measurement runs in a fresh child process, so peak RSS is that
run's alone.

    python benchmarks/text_cap.py               # a 10 MB post
    python benchmarks/text_cap.py --mb 2

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def write_input(path: Path, megabytes: float) -> None:
    words = ["maduro", "call", "strikes", "boats", "talks", "navy", "oil", "caracas", "law"]
    size = int(megabytes * 1_000_000)
    chunk = " ".join(words[(i * 7) % len(words)] + str(i % 1000) for i in range(20_000)) + " "
    text = (chunk * (size // len(chunk) + 1))[:size]
    with path.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "huge", "text": text}) + "\n")
        for n in range(20):
            handle.write(json.dumps({"id": f"p{n}", "text": f"post {n} about the Maduro call"})
                         + "\n")


def measure(path: Path, variant: str) -> dict:
    """One run in this process: read, parse, then language and dedup keys."""
    from collectors.file import FileCollector
    from nlp.text import dedup_keys
    from reactions.models import Story
    from reactions.pipeline import prepare_posts

    story = Story(slug="cap", title="Cap", claim="The call is right.")
    started = time.perf_counter()
    pages = list(FileCollector().pages(story, None, {"path": str(path)}))
    posts = [p for page in pages for p in page.posts]
    # Both variants read the whole texts again, so that reading costs both the same.
    whole = {}
    for line in path.read_text("utf-8").splitlines():
        record = json.loads(line)
        whole[record["id"]] = record["text"]
    if variant == "baseline":  # the whole text back, as before the cap
        for post in posts:
            post.text = whole[post.native_id].strip()
    prepare_posts(posts)
    dedup_keys([p.text for p in posts])
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "longest_text": max(len(p.text) for p in posts), "posts": len(posts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0, help="size of the huge post in MB")
    parser.add_argument("--child", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.input), args.child)))
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "huge.jsonl"
        write_input(path, args.mb)
        results = {}
        for variant in ("baseline", "ours"):
            out = subprocess.run([sys.executable, __file__, "--child", variant, "--input", str(path)],
                                 check=True, capture_output=True, text=True).stdout
            results[variant] = json.loads(out.strip().splitlines()[-1])
            r = results[variant]
            print(f"{variant:8} {r['posts']} posts, longest text {r['longest_text']:,} chars: "
                  f"{r['seconds']:.2f} s, peak RSS {r['peak_mb']:.0f} MB")
    ours, base = results["ours"]["peak_mb"], results["baseline"]["peak_mb"]
    print(json.dumps({"metric": f"peak RSS taking in a {args.mb:g} MB post (read, language, "
                                "dedup keys)", "unit": "MB", "ours": round(ours, 1),
                      "baseline": round(base, 1), "speedup": round(base / ours, 2),
                      "seconds_ours": round(results["ours"]["seconds"], 2),
                      "seconds_baseline": round(results["baseline"]["seconds"], 2)}))


if __name__ == "__main__":
    main()
