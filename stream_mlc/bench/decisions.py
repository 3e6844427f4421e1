"""Decision benchmark: calibration, threshold objectives, label rules and explanations, measured.

``stream-mlc bench decisions [--only PARTS] [--datasets DIR] [--model SPEC] [--limit N]``
runs a model prequentially (label delay 0, test-then-train, file order) with a
:class:`~stream_mlc.core.decision.DecisionPolicy` deciding its predictions, scores them with
:class:`~stream_mlc.core.metrics.MultiLabelMetrics`, and prints:

``calibration``
    per data set (yeast, scene, emotions) and calibration (none, platt, isotonic): ECE and
    Brier score of the published scores, the raw scores' ECE in the same run, micro-F1.
``objectives``
    on yeast, each threshold objective against the others on every objective's metric
    (micro-F1, macro-F1, subset accuracy, the mix, the expected cost at FP 1 / FN 5).
``rules``
    streams with a label hierarchy (a synthetic one, and medical with its ICD-9 codes'
    3-digit categories added as parent labels): rule violations in the raw predictions and
    in the published ones, micro-F1 with and without the rules.
``explain``
    faithfulness of the top-3 explanations (how often removing them lowers the label's
    score) and the cost of explaining every prediction.

Exit status 0 whatever the figures: it is a report, not a test.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np

from stream_mlc.bench.anchors import default_datasets_dir
from stream_mlc.core.decision import DecisionPolicy, make_decision_policy
from stream_mlc.core.metrics import MultiLabelMetrics
from stream_mlc.core.models import make_model

PARTS = ("calibration", "objectives", "rules", "explain")
STREAMS = {"yeast": "yeast", "scene": "scene/scene.arff.bz2", "emotions": "emotions/emotions.arff",
           "medical": "medical/medical.arff", "enron": "enron/enron.arff"}
CALIBRATION_STREAMS = ("yeast", "scene", "emotions")
OBJECTIVES = ("micro_f1", "macro_f1", "subset_accuracy", "mix", "cost")
COST_FP, COST_FN = 1.0, 5.0


def prequential(records, labels, model, policy: DecisionPolicy, explainer=None) -> dict:
    """Test-then-train over ``records`` with ``policy`` deciding; the metrics and some counts."""
    labels = list(labels)
    metrics = MultiLabelMetrics()
    cost = 0.0
    raw_violations = 0
    start = time.perf_counter()
    n = 0
    for record in records:
        raw = raw_scores(model, record.features, labels)
        calibrated, mask, corrections = policy.decide(labels, raw)
        predicted = [label for label, m in zip(labels, mask.tolist(), strict=True) if m]
        if explainer is not None and predicted:
            explainer(model, record.features, predicted)
        raw_violations += bool(corrections)
        truth = np.fromiter((label in record.labels for label in labels), dtype=bool, count=len(labels))
        metrics.update(record.labels, predicted, dict(zip(labels, calibrated.tolist(), strict=True)), labels)
        cost += COST_FP * float((mask & ~truth).sum()) + COST_FN * float((truth & ~mask).sum())
        policy.update(labels, raw, truth, published=calibrated)
        model.learn_one(record.features, dict(zip(labels, truth.tolist(), strict=True)))
        n += 1
    result = dict(metrics.report()["cumulative"])
    result["cost"] = cost / max(n, 1)
    result["mix"] = result["micro_f1"] + result["macro_f1"] - 2.0 * result["hamming_loss"]
    result["seconds"] = time.perf_counter() - start
    result["corrected"] = raw_violations
    result["events"] = n
    return result


def raw_scores(model, features: dict, labels: list) -> np.ndarray:
    """The model's probability of every label of ``labels`` (0 for labels it has not seen)."""
    proba = model.predict_proba_one(features)
    return np.fromiter(((proba.get(label) or {}).get(True, 0.0) for label in labels), dtype=np.float64,
                       count=len(labels))


def load(name: str, datasets: Path, limit: int | None = None):
    from stream_mlc.io.datasets import open_dataset

    spec = STREAMS.get(name, name)
    data = open_dataset(spec if spec == "yeast" else str(datasets / spec), limit=limit)
    return tuple(data.label_names), list(data)


CALIBRATIONS = ("none", "platt", "isotonic:shrink_to=identity", "isotonic:shrink_to=pooled", "isotonic")


def calibration(datasets: Path, model: str, limit: int | None, plot_path: str | None = None,
                streams=CALIBRATION_STREAMS) -> None:
    print(f"== calibration: {model} + adaptive thresholds, label delay 0; ECE (15 bins) and Brier of the "
          "published scores; raw ECE: the model's own scores in the same run")
    print(f"{'stream':<10}{'calibration':<28}{'ECE':>8}{'raw ECE':>9}{'Brier':>8}{'raw Brier':>10}{'micro-F1':>10}"
          f"{'macro-F1':>10}{'s':>7}")
    diagrams = {}
    for name in streams:
        labels, records = load(name, datasets, limit)
        for calibration_spec in CALIBRATIONS:
            policy = make_decision_policy("adaptive", calibration_spec)
            result = prequential(records, labels, make_model(model), policy)
            ece = policy.report(labels, per_label=False)["ece"]
            cal, raw = ece["calibrated"]["cumulative"], ece["raw"]["cumulative"]
            if calibration_spec == "isotonic":
                diagrams[name] = (policy.raw_metrics.reliability(), policy.calibrated_metrics.reliability(),
                                  raw["ece"], cal["ece"])
            print(f"{name:<10}{calibration_spec:<28}{cal['ece']:>8.4f}{raw['ece']:>9.4f}{cal['brier']:>8.4f}"
                  f"{raw['brier']:>10.4f}{result['micro_f1']:>10.4f}{result['macro_f1']:>10.4f}"
                  f"{result['seconds']:>7.1f}")
    if plot_path:
        plot_reliability(diagrams, plot_path)
        print(f"wrote {plot_path}")


def plot_reliability(diagrams: dict, path: str, calibrated_name: str = "isotonic (auto)") -> None:
    """Reliability diagrams, one panel per stream: ``{stream: (raw, calibrated, raw ECE, ECE)}``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(diagrams), figsize=(4.2 * len(diagrams), 4.2), squeeze=False)
    for ax, (name, (raw, calibrated, raw_ece, ece)) in zip(axes[0], diagrams.items(), strict=True):
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
        for diagram, label, color in ((raw, f"raw (ECE {raw_ece:.3f})", "C3"),
                                      (calibrated, f"{calibrated_name} (ECE {ece:.3f})", "C0")):
            used = [i for i, n in enumerate(diagram["count"]) if n > 0]
            ax.plot([diagram["mean_score"][i] for i in used], [diagram["rate"][i] for i in used], marker="o",
                    color=color, label=label)
        ax.set_title(name)
        ax.set_xlabel("mean score in bin")
        ax.set_ylabel("rate of true labels")
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def objectives(datasets: Path, model: str, calibration_spec: str, limit: int | None) -> None:
    labels, records = load("yeast", datasets, limit)
    columns = ("micro_f1", "macro_f1", "subset_accuracy", "mix", "cost", "hamming_loss", "cardinality_pred")
    better_low = {"cost", "hamming_loss"}
    print(f"== objectives on yeast: {model}, calibration {calibration_spec}, label delay 0 "
          f"(cost = FP x {COST_FP:g} + FN x {COST_FN:g} per event; mix = micro-F1 + macro-F1 - 2 Hamming)")
    rows = {}
    for objective in OBJECTIVES:
        spec = f"adaptive:objective={objective}"
        if objective == "cost":
            spec += f",cost_fp={COST_FP:g},cost_fn={COST_FN:g}"
        rows[objective] = prequential(records, labels, make_model(model),
                                      make_decision_policy(spec, calibration_spec))
    # Set-size bounds, and today's decisions (mix on uncalibrated scores), for reference.
    for name, spec, calibrated in (("mix+max_labels=3", "adaptive:max_labels=3", calibration_spec),
                                   ("mix+min_labels=1", "adaptive:min_labels=1", calibration_spec),
                                   ("mix, calibration none", "adaptive", "none")):
        rows[name] = prequential(records, labels, make_model(model), make_decision_policy(spec, calibrated))
    print(f"{'objective':<30}" + "".join(f"{c:>17}" for c in columns))
    for objective, result in rows.items():
        cells = []
        for c in columns:
            values = [r[c] for r in rows.values()]
            best = min(values) if c in better_low else max(values)
            mark = "*" if c in columns[:5] and result[c] == best else " "
            cells.append(f"{result[c]:>16.4f}{mark}")
        print(f"{objective:<30}" + "".join(cells))
    print("(* best in its column)")


def with_parents(records, parent_of: dict) -> list:
    """Records whose truth also holds each true label's parents (a hierarchy made true)."""
    from dataclasses import replace

    out = []
    for record in records:
        labels = set(record.labels)
        labels |= {parent_of[label] for label in record.labels if label in parent_of}
        out.append(replace(record, labels=frozenset(labels)))
    return out


def icd9_parents(labels) -> dict:
    """Each ICD-9 label of medical (``Class-7-511_9``) -> its 3-digit category (``icd9-511``), for
    categories with at least two codes among the labels."""
    category = {label: "icd9-" + re.sub(r"^Class-\d+-", "", label).split("_")[0] for label in labels}
    sizes: dict = {}
    for parent in category.values():
        sizes[parent] = sizes.get(parent, 0) + 1
    return {label: parent for label, parent in category.items() if sizes[parent] >= 2}


def rules(datasets: Path, model: str, calibration_spec: str, limit: int | None) -> None:
    from stream_mlc.io.datasets import open_dataset

    print(f"== rules: {model}, calibration {calibration_spec}, adaptive thresholds, label delay 0; parents are "
          "true wherever a child is; rules = the hierarchy (implication: add)")
    synthetic = open_dataset("synthetic:n=3000,features=20,labels=8,seed=7")
    synthetic_parents = {f"y{i}": f"group{i // 3}" for i in range(8)}
    streams = {"synthetic": (tuple(synthetic.label_names) + ("group0", "group1", "group2"),
                             with_parents(list(synthetic), synthetic_parents), synthetic_parents)}
    medical_labels, medical = load("medical/medical.arff", datasets, limit)
    parents = icd9_parents(medical_labels)
    streams["medical+icd9"] = (medical_labels + tuple(sorted(set(parents.values()))),
                               with_parents(medical, parents), parents)
    print(f"{'stream':<14}{'labels':>7}{'parents':>8}  {'rules':<5}{'raw violating':>15}{'violating':>10}"
          f"{'micro-F1':>10}{'macro-F1':>10}")
    for name, (labels, records, parent_of) in streams.items():
        for use in (False, True):
            policy = make_decision_policy("adaptive", calibration_spec,
                                          rules={"implies": parent_of} if use else None)
            checker = make_decision_policy("fixed", "none", rules={"implies": parent_of}).rules
            result = prequential(records, labels, make_model(model), policy)
            published = _violations_of(records, labels, model, calibration_spec, parent_of, use, checker)
            print(f"{name:<14}{len(labels):>7}{len(set(parent_of.values())):>8}  {'on' if use else 'off':<5}"
                  f"{published[0]:>15}{published[1]:>10}{result['micro_f1']:>10.4f}{result['macro_f1']:>10.4f}")


def _violations_of(records, labels, model, calibration_spec, parent_of, use, checker) -> tuple[int, int]:
    """Events whose raw thresholded prediction, and whose published one, break the hierarchy."""
    policy = make_decision_policy("adaptive", calibration_spec, rules={"implies": parent_of} if use else None)
    learner = make_model(model)
    raw_bad = published_bad = 0
    labels = list(labels)
    for record in records:
        raw = raw_scores(learner, record.features, labels)
        calibrated, mask, corrections = policy.decide(labels, raw)
        predicted = {label for label, m in zip(labels, mask.tolist(), strict=True) if m}
        unruled = predicted if not corrections else {
            label for label, s, t in zip(labels, calibrated.tolist(), policy.thresholds_of(labels).tolist(),
                                         strict=True) if s > t}
        raw_bad += bool(checker.violations(unruled))
        published_bad += bool(checker.violations(predicted))
        truth = np.fromiter((label in record.labels for label in labels), dtype=bool, count=len(labels))
        policy.update(labels, raw, truth, published=calibrated)
        learner.learn_one(record.features, dict(zip(labels, truth.tolist(), strict=True)))
    return raw_bad, published_bad


def explanations(datasets: Path, model: str, calibration_spec: str, limit: int | None, k: int = 3) -> None:
    from stream_mlc.core.explain import explain, faithfulness_check

    print(f"== explanations (top {k}): faithfulness = share of (event, predicted label) whose score drops when "
          "the top features are removed, after learning the first 2/3 of the stream (river-br-ht: 600 events), "
          "on the next 300 events (occlusion: 50); cost = prequential run with every predicted label explained vs "
          "without (fastest of 3 alternated runs each)")
    print(f"{'stream':<10}{'model':<14}{'method':<11}{'checked':>8}{'lowered':>9}{'mean drop':>11}"
          f"{'logit drop':>11}{'s plain':>9}{'s explained':>12}{'cost':>7}")
    for name in ("yeast", "scene"):
        labels, records = load(name, datasets, limit)
        for spec in (model, "river-br-ht"):
            learner = make_model(spec)
            linear = hasattr(learner, "contributions")
            cut = 2 * len(records) // 3 if linear else 600
            for record in records[:cut]:
                learner.learn_one(record.features, {label: label in record.labels for label in labels})
            test = [record.features for record in records[cut:cut + (300 if linear else 50)]]

            def predicted(features, learner=learner):
                return [label for label, p in learner.predict_proba_one(features).items() if p[True] > 0.5]

            check = faithfulness_check(learner, test, predicted, k=k)
            if spec == model:
                plain, explained = _timed_pair(records, labels, spec, calibration_spec,
                                               lambda m, x, labels_: explain(m, x, labels_, k))
                times = f"{plain:>9.2f}{explained:>12.2f}{explained / plain - 1:>+7.0%}"
            else:
                times = f"{'':>9}{'':>12}{'':>7}"
            method = "exact" if linear else "occlusion"
            print(f"{name:<10}{spec:<14}{method:<11}{check['checked']:>8}{check['share_lowered']:>9.1%}"
                  f"{check['mean_drop']:>11.4f}{check['mean_logit_drop']:>11.3f}" + times)


def _timed_pair(records, labels, model: str, calibration_spec: str, explainer, repeats: int = 3):
    """Seconds of a prequential run without and with explanations: the fastest of ``repeats``
    alternated runs each (the machine's load hits both alike)."""
    plain, explained = [], []
    for _ in range(repeats):
        for times, how in ((plain, None), (explained, explainer)):
            result = prequential(records, labels, make_model(model), make_decision_policy("adaptive", calibration_spec),
                                 explainer=how)
            times.append(result["seconds"])
    return min(plain), min(explained)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="stream-mlc bench decisions")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of: {', '.join(PARTS)}")
    parser.add_argument("--datasets", type=Path, default=default_datasets_dir())
    parser.add_argument("--model", default="native-mlc")
    parser.add_argument("--calibration", default=None, help="calibration for objectives/rules (default: the default)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many events per stream")
    parser.add_argument("--plot", help="calibration: draw reliability diagrams (raw vs isotonic) to this PNG")
    parser.add_argument("--streams", default=",".join(CALIBRATION_STREAMS),
                        help=f"calibration: comma-separated streams of: {', '.join(STREAMS)}")
    args = parser.parse_args(argv)
    from stream_mlc.core.calibration import DEFAULT_CALIBRATION

    calibration_spec = args.calibration or DEFAULT_CALIBRATION
    parts = [part.strip() for part in args.only.split(",") if part.strip()]
    for part in parts:
        if part == "calibration":
            calibration(args.datasets, args.model, args.limit, args.plot,
                        [name.strip() for name in args.streams.split(",") if name.strip()])
        elif part == "objectives":
            objectives(args.datasets, args.model, calibration_spec, args.limit)
        elif part == "rules":
            rules(args.datasets, args.model, calibration_spec, args.limit)
        elif part == "explain":
            explanations(args.datasets, args.model, calibration_spec, args.limit)
        else:
            parser.error(f"unknown part {part!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
