"""Calibrated thresholds: the choice per label (best F1, target precision, unreached targets, no positives) against a
brute-force count, and `examples/calibrate.py` end to end on a tiny saved model, read back with `read_thresholds`."""

import json

import numpy as np
import pytest
from test_timeline import random_frame, reference_scores
from tiny_models import LABELS, save_tiny_model_folder, tiny_model, tiny_processor
from video_fixtures import write_video

from modeling_msqnet.archive.calibration import calibrate_thresholds, choose_threshold, main
from modeling_msqnet.archive.thresholds import read_thresholds, read_thresholds_document
from modeling_msqnet.timeline import DEFAULT_THRESHOLD


def brute_force(targets, scores, threshold):
    predicted = scores >= threshold
    true_positives = (predicted & (targets == 1)).sum()
    precision = true_positives / predicted.sum() if predicted.sum() else None
    recall = true_positives / targets.sum()
    f1 = 2 * true_positives / (predicted.sum() + targets.sum())
    return precision, recall, f1


@pytest.mark.parametrize("seed", range(5))
def test_best_f1_is_the_best_of_every_threshold(seed):
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, 2, 60)
    scores = np.round(np.clip(0.3 * targets + rng.random(60) * 0.7, 0, 1), 2)  # ties included
    figures, status = choose_threshold(targets, scores)
    assert status == "ok" and figures["support"] == targets.sum()
    best = max(brute_force(targets, scores, t)[2] for t in np.unique(scores))
    assert figures["f1"] == pytest.approx(best)
    precision, recall, f1 = brute_force(targets, scores, figures["threshold"])
    assert (figures["precision"], figures["recall"], figures["f1"]) == pytest.approx((precision, recall, f1))


def test_target_precision_takes_the_lowest_threshold_that_reaches_it():
    targets = np.array([1, 1, 0, 1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    figures, status = choose_threshold(targets, scores, target_precision=0.75)
    # precision at 0.9, 0.8: 1; 0.7: 2/3; 0.6: 3/4; 0.5: 3/5; 0.4: 4/6 -> the lowest with >= 0.75 is 0.6
    assert status == "ok" and figures["threshold"] == 0.6
    assert figures["precision"] == 0.75 and figures["recall"] == 0.75
    assert choose_threshold(targets, scores, target_precision=1.0)[0]["threshold"] == 0.8


def test_unreached_target_is_recorded_not_hidden():
    targets = np.array([0, 1, 1, 0, 1])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])  # precision 0, 1/2, 2/3, 1/2, 3/5: at best 2/3, at 0.7
    figures, status = choose_threshold(targets, scores, target_precision=0.9)
    assert status == "unreached" and figures["threshold"] == 0.7
    assert figures["precision"] == pytest.approx(2 / 3) and figures["precision"] < 0.9
    disabled, status = choose_threshold(targets, scores, target_precision=0.9, if_unreached="disable")
    assert status == "unreached" and disabled["threshold"] == 1.0
    assert disabled["precision"] is None and disabled["recall"] == 0.0


def test_labels_without_positives_keep_the_default_threshold():
    scores = np.array([[0.9, 0.2], [0.1, 0.7], [0.6, 0.4]])
    targets = np.array([[1, 0], [0, 0], [1, 0]])
    calibration = calibrate_thresholds(scores, targets, ["a", "b"], target_precision=0.5)
    assert calibration.without_positives == ["b"] and calibration.unreached == []
    entry = calibration.per_label["b"]
    assert entry["threshold"] == DEFAULT_THRESHOLD and entry["support"] == 0
    assert entry["recall"] is None and entry["f1"] is None and entry["precision"] == 0.0  # 0.7 >= 0.5: one wrong
    assert "no positive clip" in calibration.describe()
    with pytest.raises(ValueError, match="shape"):
        calibrate_thresholds(scores, targets[:, :1], ["a", "b"])


@pytest.fixture(scope="module")
def labelled_clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calibration")
    model_dir = save_tiny_model_folder(folder / "model")
    video = write_video(folder / "noise.mp4", 200, fps=25, make_frame=random_frame)
    rng = np.random.default_rng(0)
    rows = []
    for index in range(12):
        labels = [label for label in LABELS if rng.random() < 0.5] or [LABELS[index % len(LABELS)]]
        rows.append({"video": "noise.mp4", "labels": labels, "start": index * 0.6, "end": index * 0.6 + 1.0})
    manifest = folder / "val.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return model_dir, manifest, video, rows


def test_calibrate_command_writes_thresholds_the_readers_take(labelled_clips, tmp_path):
    from test_training import reset_accelerate_state

    model_dir, manifest, video, rows = labelled_clips
    output = tmp_path / "thresholds.json"
    reset_accelerate_state()
    try:
        code = main(["--model", str(model_dir), "--manifest", str(manifest), "--output", str(output)])
    finally:
        reset_accelerate_state()
    assert code == 0
    document = read_thresholds_document(output)
    assert document["criterion"] == "best_f1" and document["manifest"] == str(manifest)
    thresholds = read_thresholds(output, LABELS)

    # The figures match the model's scores of each clip, computed here one clip at a time.
    model, processor = tiny_model(), tiny_processor()
    scores = np.stack([reference_scores(model, processor, video, row["start"], row["end"]) for row in rows])
    for column, label in enumerate(LABELS):
        targets = np.array([label in row["labels"] for row in rows], dtype=np.int64)
        precision, recall, f1 = brute_force(targets, scores[:, column], thresholds[label] - 1e-6)
        entry = document["labels"][label]
        assert entry["support"] == targets.sum()
        assert (entry["precision"], entry["recall"], entry["f1"]) == pytest.approx((precision, recall, f1))


def test_calibrate_command_errors(labelled_clips, tmp_path):
    model_dir, _, _, _ = labelled_clips
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"video": "noise.mp4", "labels": ["flying"]}\n')
    from test_training import reset_accelerate_state

    reset_accelerate_state()
    try:
        assert main(["--model", str(model_dir), "--manifest", str(bad), "--output", str(tmp_path / "t.json")]) == 1
    finally:
        reset_accelerate_state()
    assert not (tmp_path / "t.json").exists()
    with pytest.raises(SystemExit):
        main(["--model", "m", "--manifest", "x", "--output", str(tmp_path / "t.json"), "--target_precision", "1.5"])
    with pytest.raises(SystemExit):
        main(["--model", "m", "--manifest", "x", "--output", str(tmp_path / "t.txt")])
