"""Read the published results (``ANCHORS.md`` beside the data sets) so benchmarks compare with them."""

from __future__ import annotations

import re
from pathlib import Path

#: ANCHORS.md's metric names -> ours. HamScore rows (other protocols) are not used.
METRICS = {"SubAcc": "subset_accuracy", "HamLoss": "hamming_loss", "exF1": "example_f1",
           "miF1": "micro_f1", "maF1": "macro_f1"}
LOWER_IS_BETTER = {"hamming_loss"}


def default_datasets_dir() -> Path:
    """``../shared/datasets`` beside the repository checkout."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def mlhat_table(anchors: Path) -> dict[str, dict[str, dict[str, float]]]:
    """``{dataset: {column: {metric: value}}}`` of the MLHAT2024 tables; column "best" is the best."""
    tables: dict[str, dict[str, dict[str, float]]] = {}
    dataset = None
    in_mlhat = False
    header: list[str] = []
    for line in anchors.read_text().splitlines():
        if line.startswith("### "):
            dataset, in_mlhat = line[4:].strip(), False
        elif line.startswith("**"):
            in_mlhat = line.startswith("**MLHAT2024**")
        elif in_mlhat and line.startswith("| metric"):
            header = [cell.strip() for cell in line.strip("|").split("|")]
        elif in_mlhat and line.startswith("|") and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            metric = METRICS.get(cells[0])
            if metric is None:
                continue
            row = tables.setdefault(dataset, {})
            best = re.search(r"=\s*([0-9.]+)", cells[1])
            row.setdefault("best", {})[metric] = float(best.group(1))
            row.setdefault("best_method", {})[metric] = cells[1].split("=")[0].strip()
            for column, cell in zip(header[2:], cells[2:], strict=False):
                row.setdefault(column, {})[metric] = float(cell)
    return tables


def beats(metric: str, ours: float, theirs: float) -> bool:
    return ours < theirs if metric in LOWER_IS_BETTER else ours > theirs
