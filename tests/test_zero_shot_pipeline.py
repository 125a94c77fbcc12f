"""The zero-shot video classification pipeline: output format, sorting and activation, batching, the error of a
per-class-head model, and the Hub round trip in a process where `modeling_msqnet` is not importable."""

import json

import numpy as np
import pytest
import torch
from remote_code import run_without_package
from tiny_models import IMAGE_SIZE, save_tiny_parts
from transformers import AutoTokenizer, pipeline

from modeling_msqnet import (
    MSQNetForVideoClassification,
    MSQNetProcessor,
    MSQNetVideoProcessor,
    MSQNetZeroShotVideoClassificationPipeline,
)
from modeling_msqnet.data.synthetic_actions import write_video


TRAINED = ["low", "lower", "newer"]
CANDIDATES = ["wider", "low", "lowest", "newer"]  # two names the model never saw, two it did
TASK = "zero-shot-video-classification"


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = save_tiny_parts(tmp_path_factory.mktemp("pipeline-parts"))
    frames = np.random.default_rng(0).integers(0, 256, size=(8, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    write_video(root / "clip.mp4", frames)
    return root


def build(parts, folder, problem_type="multi_label_classification", **kwargs):
    torch.manual_seed(0)
    kwargs = {"classifier_head": "shared", "label_query_mode": "text_derived", **kwargs}
    model = MSQNetForVideoClassification.from_pretrained_parts(
        parts / "timesformer", parts / "clip", TRAINED, num_frames=4, problem_type=problem_type, **kwargs
    ).eval()
    video_processor = MSQNetVideoProcessor(
        num_frames=4, size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    tokenizer = AutoTokenizer.from_pretrained(parts / "clip")
    model.save_pretrained(folder)
    MSQNetProcessor(video_processor=video_processor, tokenizer=tokenizer).save_pretrained(folder)
    return model, video_processor, tokenizer


def expected_predictions(model, video_processor, tokenizer, video, labels, activation):
    label_embeds = model.msqnet.label_embeds_for_names(labels, tokenizer)
    with torch.no_grad():
        logits = model(**video_processor(video, return_tensors="pt"), label_embeds=label_embeds).logits[0]
    scores = (logits.softmax(-1) if activation == "softmax" else logits.sigmoid()).tolist()
    return sorted(({"score": s, "label": label} for s, label in zip(scores, labels)), key=lambda p: -p["score"])


def assert_predictions(predictions, expected):
    assert [p["label"] for p in predictions] == [p["label"] for p in expected]
    assert [p["score"] for p in predictions] == pytest.approx([p["score"] for p in expected], abs=1e-5)
    assert [p["score"] for p in predictions] == sorted((p["score"] for p in predictions), reverse=True)
    assert all(set(p) == {"label", "score"} for p in predictions)


@pytest.mark.parametrize(
    "problem_type, activation",
    [("multi_label_classification", "sigmoid"), ("single_label_classification", "softmax")],
)
def test_local_pipeline_scores_candidates_sorted_with_the_right_activation(parts, tmp_path, problem_type, activation):
    model, video_processor, tokenizer = build(parts, tmp_path, problem_type)
    video = str(parts / "clip.mp4")
    classifier = pipeline(TASK, model=model, tokenizer=tokenizer, video_processor=video_processor)
    assert isinstance(classifier, MSQNetZeroShotVideoClassificationPipeline)
    predictions = classifier(video, candidate_labels=CANDIDATES, hypothesis_template="{}")
    assert_predictions(
        predictions, expected_predictions(model, video_processor, tokenizer, video, CANDIDATES, activation)
    )
    total = sum(p["score"] for p in predictions)
    if activation == "softmax":
        assert total == pytest.approx(1.0, abs=1e-5)
    else:
        assert all(0.0 < p["score"] < 1.0 for p in predictions) and total != pytest.approx(1.0, abs=1e-3)
    # The model's own label set is untouched by the call.
    assert model.config.id2label == dict(enumerate(TRAINED))

    # Several videos, batched: one sorted list per video, the same as one at a time.
    frames = np.random.default_rng(1).integers(0, 256, size=(6, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    batched = classifier([video, frames], candidate_labels=CANDIDATES, batch_size=2)
    assert len(batched) == 2
    assert_predictions(batched[0], predictions)
    assert_predictions(batched[1], classifier(frames, candidate_labels=CANDIDATES))

    # A template changes the text that is embedded, hence the scores; the labels returned stay the candidates.
    templated = classifier(video, candidate_labels=CANDIDATES, hypothesis_template="{} er")
    assert {p["label"] for p in templated} == set(CANDIDATES)
    assert templated != predictions


def test_folder_loads_the_pipeline_locally_and_per_class_models_say_what_to_use(parts, tmp_path):
    build(parts, tmp_path / "text-derived")
    classifier = pipeline(
        TASK, model=str(tmp_path / "text-derived"), pipeline_class=MSQNetZeroShotVideoClassificationPipeline
    )
    assert [p["label"] for p in classifier(str(parts / "clip.mp4"), candidate_labels=["wider"])] == ["wider"]

    build(parts, tmp_path / "per-class", classifier_head="per_class", label_query_mode="learned")
    per_class = pipeline(
        TASK, model=str(tmp_path / "per-class"), pipeline_class=MSQNetZeroShotVideoClassificationPipeline
    )
    assert len(per_class(str(parts / "clip.mp4"), candidate_labels=["low", "newer"])) == 2  # known names work
    with pytest.raises(ValueError, match=r"classifier_head='shared'.*label_query_mode='text_derived'"):
        per_class(str(parts / "clip.mp4"), candidate_labels=["low", "wider"])
    with pytest.raises(ValueError, match="candidate_labels"):
        classifier(str(parts / "clip.mp4"), candidate_labels=[])


def test_remote_code_pipeline_runs_without_the_package(parts, tmp_path):
    model, video_processor, tokenizer = build(parts, tmp_path / "model")
    video = str(parts / "clip.mp4")
    run_without_package(
        "zero_shot_pipeline_check.py", [tmp_path / "model", video, tmp_path / "out.json", *CANDIDATES], tmp_path
    )
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["package_importable"] is False
    for key, name in (
        ("pipeline_class", "MSQNetZeroShotVideoClassificationPipeline"),
        ("model_class", "MSQNetForVideoClassification"),
    ):
        assert result[key][0] == name and result[key][1].startswith("transformers_modules."), result[key]
    expected = expected_predictions(model, video_processor, tokenizer, video, CANDIDATES, "sigmoid")
    assert_predictions(result["predictions"], expected)
    assert len(result["batched"]) == 2
    for predictions in result["batched"]:
        assert_predictions(predictions, expected)
    assert result["id2label_after"] == {str(i): name for i, name in enumerate(TRAINED)}
