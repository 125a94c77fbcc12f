"""The metrics of MSQNet's paper: plain functions and the `evaluate` modules, checked against scikit-learn."""

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, top_k_accuracy_score

from modeling_msqnet.metrics import (
    METRIC_MODULES,
    binary_average_precision,
    load_metric,
    metric_module_path,
    multilabel_accuracy,
    multilabel_average_precision,
    top_k_accuracy,
)


@pytest.fixture(autouse=True)
def evaluate_caches_in_tmp(tmp_path_factory, monkeypatch):
    """Keep `evaluate`'s module copies and cache folders out of the user's home."""
    import evaluate

    root = tmp_path_factory.getbasetemp() / "evaluate"
    monkeypatch.setattr(evaluate.config, "HF_MODULES_CACHE", root / "modules")
    monkeypatch.setattr(evaluate.config, "HF_METRICS_CACHE", root / "metrics")


def sklearn_macro_map(targets, scores):
    """SlowFast's `get_map` (quoted by Animal Kingdom): classes without positives removed, then sklearn's mean AP."""
    keep = ~np.all(targets == 0, axis=0)
    return float(np.mean(average_precision_score(targets[:, keep], scores[:, keep], average=None)))


def random_multilabel(seed, num_samples=60, num_classes=9, tie_decimals=None):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(num_samples, num_classes))
    if tie_decimals is not None:
        scores = np.round(scores, tie_decimals)
    targets = (rng.random((num_samples, num_classes)) < 0.3).astype(int)
    return scores, targets


# ---------------------------------------------------------------- average precision


@pytest.mark.parametrize("seed", range(5))
def test_binary_average_precision_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    targets = (rng.random(200) < 0.2).astype(int)
    targets[0] = 1
    scores = rng.random(200)
    assert binary_average_precision(targets, scores) == pytest.approx(
        average_precision_score(targets, scores), abs=1e-12
    )
    tied = np.round(scores, 1)  # ~10 distinct values: many ties
    assert binary_average_precision(targets, tied) == pytest.approx(average_precision_score(targets, tied), abs=1e-12)


@pytest.mark.parametrize("seed,tie_decimals", [(0, None), (1, None), (2, 0), (3, 1)])
def test_macro_and_micro_map_match_sklearn(seed, tie_decimals):
    scores, targets = random_multilabel(seed, tie_decimals=tie_decimals)
    targets[:, 4] = 0  # a class with no positive is left out of the macro mean
    targets[7] = 0  # an all-zero row
    results = multilabel_average_precision(scores, targets)

    assert results["num_classes_left_out"] == 1 and results["num_classes_evaluated"] == 8
    assert results["mAP_macro"] == pytest.approx(sklearn_macro_map(targets, scores), abs=1e-12)
    assert results["AP_micro"] == pytest.approx(average_precision_score(targets, scores, average="micro"), abs=1e-12)
    per_class = results["per_class_AP"]
    assert math.isnan(per_class[4])
    for index in (0, 1, 2, 3, 5, 6, 7, 8):
        assert per_class[index] == pytest.approx(
            average_precision_score(targets[:, index], scores[:, index]), abs=1e-12
        )


def test_average_precision_hand_computed_ties():
    # Class 0: scores (0.9+, 0.5+, 0.5-, 0.1-): thresholds 0.9 (P=1, R=.5) then 0.5 (P=2/3, R=1): AP = .5 + .5 * 2/3.
    scores = np.array([[0.9, 0.2], [0.5, 0.2], [0.5, 0.2], [0.1, 0.2]])
    targets = np.array([[1, 1], [1, 0], [0, 0], [0, 0]])
    results = multilabel_average_precision(scores, targets)
    assert results["per_class_AP"][0] == pytest.approx(0.5 + 0.5 * 2 / 3)
    # Class 1: all four scores tied, one positive: a single threshold with precision 1/4.
    assert results["per_class_AP"][1] == pytest.approx(0.25)
    assert results["mAP_macro"] == pytest.approx((0.5 + 0.5 * 2 / 3 + 0.25) / 2)


def test_average_precision_single_sample_and_no_positive_at_all():
    results = multilabel_average_precision([[0.3, 0.8, 0.1]], [[0, 1, 0]])
    assert results["per_class_AP"][1] == 1.0 and results["mAP_macro"] == 1.0
    assert results["num_classes_left_out"] == 2
    # micro: the positive pair has the highest of the 3 scores.
    assert results["AP_micro"] == pytest.approx(average_precision_score([0, 1, 0], [0.3, 0.8, 0.1]))
    empty = multilabel_average_precision([[0.3, 0.8]], [[0, 0]])
    assert math.isnan(empty["mAP_macro"]) and math.isnan(empty["AP_micro"]) and empty["num_classes_left_out"] == 2


def test_average_precision_is_invariant_to_monotonic_score_maps():
    scores, targets = random_multilabel(7)
    logits = multilabel_average_precision(scores, targets)
    probabilities = multilabel_average_precision(1 / (1 + np.exp(-scores)), targets)
    assert probabilities["mAP_macro"] == pytest.approx(logits["mAP_macro"], abs=1e-12)
    assert probabilities["AP_micro"] == pytest.approx(logits["AP_micro"], abs=1e-12)


def test_average_precision_rejects_bad_inputs():
    with pytest.raises(ValueError, match=r"\(num_samples, num_classes\)"):
        multilabel_average_precision([[0.1, 0.2]], [[1, 0, 0]])
    with pytest.raises(ValueError, match="multi-hot"):
        multilabel_average_precision([[0.1, 0.2]], [[2, 0]])
    with pytest.raises(ValueError, match="NaN or infinite"):
        multilabel_average_precision([[float("nan"), 0.2]], [[1, 0]])


# ---------------------------------------------------------------- multi-label accuracy


def test_multilabel_accuracy_counts_all_pairs():
    probabilities = np.array([[0.9, 0.2, 0.5], [0.4, 0.7, 0.51]])
    targets = np.array([[1, 0, 1], [1, 1, 1]])
    # Predicted (p > 0.5): [[1, 0, 0], [0, 1, 1]] -> right on 4 of 6 pairs (0.5 is not above the threshold).
    assert multilabel_accuracy(probabilities, targets) == {"accuracy": pytest.approx(4 / 6)}
    assert multilabel_accuracy(probabilities, targets, threshold=0.45)["accuracy"] == pytest.approx(5 / 6)


def test_multilabel_accuracy_takes_logits_like_torchmetrics():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3, size=(40, 12))
    targets = (rng.random((40, 12)) < 0.3).astype(int)
    expected = float(((logits > 0) == targets).mean())  # sigmoid(x) > 0.5 <=> x > 0
    assert multilabel_accuracy(logits, targets)["accuracy"] == pytest.approx(expected)
    assert multilabel_accuracy(logits, targets, from_logits=True)["accuracy"] == pytest.approx(expected)
    # Scores inside [0, 1] are probabilities unless told otherwise.
    scores = np.array([[0.6, 0.4]])
    assert multilabel_accuracy(scores, [[1, 0]])["accuracy"] == 1.0
    assert (
        multilabel_accuracy(scores, [[1, 0]], from_logits=True)["accuracy"] == 0.5
    )  # sigmoid(0.4), sigmoid(0.6) > .5


# ---------------------------------------------------------------- top-k accuracy


@pytest.mark.parametrize("seed,tie_decimals", [(0, None), (1, 0)])
def test_top_k_accuracy_matches_sklearn(seed, tie_decimals):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(80, 20))
    if tie_decimals is not None:
        scores = np.round(scores, tie_decimals)
    targets = rng.integers(0, 20, size=80)
    results = top_k_accuracy(scores, targets, top_k=(1, 5))
    labels = np.arange(20)
    assert results["top1_accuracy"] == pytest.approx(top_k_accuracy_score(targets, scores, k=1, labels=labels))
    assert results["top5_accuracy"] == pytest.approx(top_k_accuracy_score(targets, scores, k=5, labels=labels))
    if tie_decimals is None:
        assert results["top1_accuracy"] == pytest.approx(float((scores.argmax(axis=1) == targets).mean()))


def test_top_k_accuracy_edges():
    assert top_k_accuracy([[0.2, 0.5, 0.3]], [0], top_k=5) == {"top5_accuracy": 1.0}  # k >= num_classes
    with pytest.raises(ValueError, match="class indices"):
        top_k_accuracy([[0.2, 0.5, 0.3]], [3])
    with pytest.raises(ValueError, match="references"):
        top_k_accuracy([[0.2, 0.5, 0.3]], [[0]])


# ---------------------------------------------------------------- the `evaluate` modules


def test_every_metric_module_loads_with_evaluate_offline(monkeypatch):
    import evaluate

    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
    for name in METRIC_MODULES:
        module = evaluate.load(metric_module_path(name), keep_in_memory=True)
        assert isinstance(module, evaluate.Metric) and module.name == name


def test_evaluate_average_precision_matches_the_function_with_batches():
    scores, targets = random_multilabel(11, num_samples=50, num_classes=6)
    metric = load_metric("multilabel_average_precision")
    for start in range(0, 50, 16):  # results must not depend on how the set was fed
        metric.add_batch(predictions=scores[start : start + 16], references=targets[start : start + 16])
    results = metric.compute()
    expected = multilabel_average_precision(scores, targets)
    assert (
        results["mAP_macro"] == expected["mAP_macro"] == pytest.approx(sklearn_macro_map(targets, scores), abs=1e-12)
    )
    assert results["AP_micro"] == expected["AP_micro"]
    np.testing.assert_array_equal(results["per_class_AP"], expected["per_class_AP"])


def test_evaluate_accuracy_modules():
    accuracy = load_metric("multilabel_accuracy")
    assert accuracy.compute(predictions=[[0.9, 0.2], [0.4, 0.7]], references=[[1, 0], [1, 1]]) == {"accuracy": 0.75}
    assert accuracy.compute(predictions=[[2.0, -1.0]], references=[[1, 1]]) == {"accuracy": 0.5}

    top_k = load_metric("top_k_accuracy")
    results = top_k.compute(predictions=[[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]], references=[1, 2], top_k=(1, 2))
    assert results == {"top1_accuracy": 0.5, "top2_accuracy": 1.0}
