"""ArgKP-2021 (IBM Key Point Analysis, CDLA-Sharing-1.0) as the theme code reads it.

Arguments on debate topics, each with a stance, expert key points per topic and stance, and
which argument makes which key point. The theme encoder and projection are trained on
train; `benchmarks/keypoints.py` scores themes on dev.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from nlp.stance.data import SHARED_DATA

DEFAULT_DATA = SHARED_DATA / "keypoints"


def load_split(data: Path, split: str):
    """Arguments, key points, and for each key point the set of argument ids that make it."""
    def rows(name):
        with open(data / f"{name}_{split}.csv", newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    arguments, key_points = rows("arguments"), rows("key_points")
    matches: dict[str, set[str]] = defaultdict(set)
    for row in rows("labels"):
        if row["label"] == "1":
            matches[row["key_point_id"]].add(row["arg_id"])
    return arguments, key_points, matches


def groups(arguments, key_points, matches):
    """(topic, stance) -> (argument indices, [(key point index, matching argument indices)])."""
    out = {}
    by_group: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, row in enumerate(arguments):
        by_group[(row["topic"], row["stance"])].append(i)
    for key, members in by_group.items():
        ids = {arguments[i]["arg_id"]: i for i in members}
        gold = []
        for k, kp in enumerate(key_points):
            if (kp["topic"], kp["stance"]) == key:
                matched = [ids[a] for a in matches.get(kp["key_point_id"], ()) if a in ids]
                if matched:
                    gold.append((k, matched))
        out[key] = (members, gold)
    return out


def single_point_arguments(groups_, held=frozenset()):
    """(argument index, key point index) for each argument that makes exactly one key point;
    topics in `held` are left out."""
    out = []
    for (topic, _), (_, gold) in groups_.items():
        if topic in held:
            continue
        made = Counter(i for _, g in gold for i in g)
        out += [(i, k) for k, g in gold for i in g if made[i] == 1]
    return out


def projection_rows(groups_, vectors, held=frozenset()):
    """Training rows for the theme projection: each argument that makes exactly one key point,
    centred on its whole topic-stance (as extract_themes centres a whole bucket), with that
    key point as its label; topics in `held` are left out."""
    rows, labels = [], []
    for (topic, _), (members, gold) in groups_.items():
        if topic in held:
            continue
        mean = vectors[members].mean(axis=0)
        made = Counter(i for _, g in gold for i in g)
        for k, g in gold:
            rows += [vectors[i] - mean for i in g if made[i] == 1]
            labels += [k for i in g if made[i] == 1]
    return np.array(rows), np.array(labels)
