"""Protocol parity: BR + River Hoeffding trees, as MLHAT2024 ran them, against its "HT" column.

``stream-mlc bench parity [--datasets DIR]`` evaluates ``river-br-ht`` (grace_period=200,
delta=1e-5, tau=0.05, nba leaves) with label delay 0 on emotions, yeast and scene, and
prints ours, published and the difference per metric. Needs ../shared/datasets.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stream_mlc.bench.anchors import METRICS, default_datasets_dir, mlhat_table
from stream_mlc.evaluate import prequential
from stream_mlc.io.datasets import open_dataset

FILES = {"emotions": "emotions/emotions.arff", "yeast": "yeast/yeast.arff", "scene": "scene/scene.arff.bz2"}
TOLERANCE = 0.005


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stream-mlc bench parity", description=__doc__)
    parser.add_argument("--datasets", type=Path, default=default_datasets_dir())
    parser.add_argument("--model", default="river-br-ht")
    args = parser.parse_args(argv)
    published = mlhat_table(args.datasets / "ANCHORS.md")
    worst = 0.0
    print(f"{'data set':<10}{'metric':<18}{'ours':>8}{'MLHAT HT':>10}{'diff':>9}")
    for name, path in FILES.items():
        result = prequential(open_dataset(str(args.datasets / path)), args.model, thresholds="fixed")
        for metric in METRICS.values():
            ours, theirs = result.metrics[metric], published[name]["HT"][metric]
            worst = max(worst, abs(ours - theirs))
            print(f"{name:<10}{metric:<18}{ours:>8.3f}{theirs:>10.3f}{ours - theirs:>+9.3f}")
        print(f"{name:<10}{'seconds':<18}{result.seconds:>8.1f}")
    verdict = "within" if worst <= TOLERANCE else "NOT within"
    print(f"largest difference {worst:.4f}: {verdict} {TOLERANCE}")
    return 0
