"""Model cards rendered from the Hub template: metadata and model-index round trips, text, plots and errors."""

import json
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import ModelCard
from tiny_models import tiny_config
from transformers.testing_utils import CaptureLogger

from modeling_msqnet import MSQNetVideoProcessor
from modeling_msqnet.publishing import model_card
from modeling_msqnet.publishing.model_card import (
    DEFAULT_TEMPLATE_PATH,
    ModelCardInfo,
    eval_report_to_results,
    render_model_card,
)


ANIMAL_KINGDOM = Path(__file__).resolve().parents[1] / "configuration" / "datasets" / "animal_kingdom.json"
LABELS = ["Celebration", "Corner Action", "Face-Off", "Line Change | Bench", "Shot"]
BASE_MODELS = ["facebook/timesformer-base-finetuned-k400", "openai/clip-vit-base-patch16"]
EVAL_RESULTS = {"mAP_macro": 0.7310123456789, "AP_micro": 0.8125, "multilabel_accuracy": 0.96951}


def render(model_dir, **overrides):
    kwargs = dict(
        id2label=dict(enumerate(LABELS)),
        problem_type="multi_label_classification",
        num_frames=16,
        dataset_name="Hockey",
        dataset_id="someone/hockey-penalty",
        eval_split="test",
        eval_results=EVAL_RESULTS,
        base_models=BASE_MODELS,
        training_hyperparameters={"learning_rate": 1e-5, "optimizer": "Adam", "epochs": 100},
        repo_id="someone/msqnet-hockey",
        classifier_head="per_class",
    )
    kwargs.update(overrides)
    return render_model_card(model_dir, ModelCardInfo(**kwargs))


def test_default_template_ships_with_the_repository():
    assert (
        DEFAULT_TEMPLATE_PATH
        == Path(model_card.__file__).resolve().parents[2] / "hub_cards" / DEFAULT_TEMPLATE_PATH.name
    )
    assert DEFAULT_TEMPLATE_PATH.is_file()


def test_metadata_round_trips_through_readme(tmp_path):
    returned = render(tmp_path)
    card = ModelCard.load(tmp_path / "README.md")
    assert card.content == returned.content

    data = card.data
    assert data.library_name == "transformers"
    assert data.pipeline_tag == "video-classification"
    assert data.license == "apache-2.0"
    assert data.tags == [
        "msqnet",
        "video-classification",
        "action-recognition",
        "multi-label-action-recognition",
        "custom_code",
    ]
    assert data.base_model == BASE_MODELS
    assert data.datasets == ["someone/hockey-penalty"]
    assert data.metrics == ["mAP", "average_precision", "accuracy"]

    assert data.model_name == "msqnet-hockey"
    results = {result.metric_type: result for result in data.eval_results}
    assert {key: result.metric_value for key, result in results.items()} == {
        "mAP": EVAL_RESULTS["mAP_macro"],
        "average_precision": EVAL_RESULTS["AP_micro"],
        "accuracy": EVAL_RESULTS["multilabel_accuracy"],
    }
    assert results["mAP"].metric_name == "mAP (macro)"
    for result in data.eval_results:
        assert result.task_type == "video-classification"
        assert (result.dataset_type, result.dataset_name, result.dataset_split) == (
            "someone/hockey-penalty",
            "Hockey",
            "test",
        )


def test_text_has_labels_usage_results_and_citation(tmp_path):
    text = render(tmp_path, extra_text="## Acknowledgements\n\nThanks to the annotators.").text
    for name in ["Celebration", "Corner Action", "Face-Off", "Shot"]:
        assert f"| {name} |" in text
    assert "| 3 | Line Change \\| Bench |" in text  # a "|" in a label name must not split the table cell
    assert "<details>" in text and "All 5 labels" in text
    assert 'AutoModelForVideoClassification.from_pretrained("someone/msqnet-hockey", trust_remote_code=True)' in text
    assert 'AutoVideoProcessor.from_pretrained("someone/msqnet-hockey", trust_remote_code=True)' in text
    assert 'pipeline("video-classification", model="someone/msqnet-hockey", trust_remote_code=True)' in text
    assert "logits.sigmoid()" in text and "(1, 16, 3, 224, 224)" in text
    assert "| mAP (macro) | 0.7310 |" in text and "| Multi-label accuracy | 0.9695 |" in text
    assert "| learning_rate | 1e-05 |" in text
    assert "group-wise linear layer" in text
    assert "Mondal, Anindya and Nag, Sauradip" in text and "(ICCV) Workshops" in text
    assert text.index("## Acknowledgements") < text.index("## Citation")
    assert "[More Information Needed]" not in text


def test_single_label_from_scratch_card(tmp_path):
    card = render(
        tmp_path,
        problem_type="single_label_classification",
        eval_results={"top1": 0.8316, "top5": 0.97},
        base_models=[],
        classifier_head="shared",
        repo_id=None,
        training_hyperparameters=None,
    )
    data = ModelCard.load(tmp_path / "README.md").data
    assert data.base_model is None
    assert "multi-label-action-recognition" not in data.tags
    assert data.model_name == tmp_path.name
    assert {r.metric_type: r.metric_value for r in data.eval_results} == {"accuracy": 0.8316, "top_5_accuracy": 0.97}
    assert (
        "logits.softmax(-1)" in card.text
        and "sigmoid" not in card.text.split("## Labels")[0].split("### Model and")[1]
    )
    assert "one linear scorer, shared by all labels" in card.text
    assert "your-username/your-msqnet-model" in card.text
    assert "### Hyper-parameters" not in card.text


def test_no_results_gives_no_model_index(tmp_path):
    render(tmp_path, eval_results=None, dataset_name=None, dataset_id=None)
    readme = (tmp_path / "README.md").read_text()
    assert "model-index" not in readme and "## Evaluation" not in readme
    data = ModelCard.load(tmp_path / "README.md").data
    assert data.eval_results is None and data.datasets is None


def test_full_animal_kingdom_label_set(tmp_path):
    names = json.loads(ANIMAL_KINGDOM.read_text())["labels"]
    assert len(names) == 140
    card = render(tmp_path, id2label={str(i): name for i, name in enumerate(names)})  # JSON-style string keys
    table = card.text.split("| id | label |")[1].split("</details>")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    assert rows == [f"| {i} | {name} |" for i, name in enumerate(names)]


def test_plots_are_embedded_and_outside_plots_copied(tmp_path):
    model_dir, elsewhere = tmp_path / "model", tmp_path / "elsewhere"
    (model_dir / "plots").mkdir(parents=True)
    elsewhere.mkdir()
    (model_dir / "plots" / "training_curves.png").write_bytes(b"\x89PNG fake")
    (elsewhere / "per_class_ap.png").write_bytes(b"\x89PNG other")
    card = render(model_dir, plots=["plots/training_curves.png", str(elsewhere / "per_class_ap.png")])
    assert "![Training curves](plots/training_curves.png)" in card.text
    assert "![Per class ap](per_class_ap.png)" in card.text
    assert (model_dir / "per_class_ap.png").read_bytes() == b"\x89PNG other"
    render(model_dir, plots=[str(elsewhere / "per_class_ap.png")])  # rendering again reuses the identical copy

    (elsewhere / "per_class_ap.png").write_bytes(b"\x89PNG changed")
    with pytest.raises(FileExistsError, match="a different"):
        render(model_dir, plots=[str(elsewhere / "per_class_ap.png")])

    with pytest.raises(FileNotFoundError, match="missing.png"):
        render(model_dir, plots=["missing.png"])


def test_numpy_values_are_written_as_plain_numbers(tmp_path):
    render(tmp_path, eval_results={"mAP_macro": np.float32(0.5), "top1": np.float64(0.25)})
    data = ModelCard.load(tmp_path / "README.md").data
    assert {r.metric_type: r.metric_value for r in data.eval_results} == {"mAP": 0.5, "accuracy": 0.25}


def test_missing_template_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "template.md"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        render(tmp_path, template_path=str(missing))
    assert not (tmp_path / "README.md").exists()


def test_custom_template(tmp_path):
    template = tmp_path / "template.md"
    template.write_text("---\n{{ card_data }}\n---\n\n# {{ model_name }} sees {{ num_frames }} frames\n")
    card = render(tmp_path, template_path=str(template))
    assert card.text.strip() == "# msqnet-hockey sees 16 frames"
    assert card.data.pipeline_tag == "video-classification"


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        ({"id2label": {0: "a", 2: "b"}}, ValueError, "without gaps"),
        ({"id2label": {}}, ValueError, "non-empty dict"),
        ({"id2label": {0: "a", 1: ""}}, ValueError, r"indices \[1\]"),
        ({"id2label": {0: "a", 1: "a"}}, ValueError, r"repeats the class names \['a'\]"),
        ({"problem_type": "regression"}, ValueError, "problem_type"),
        ({"num_frames": 0}, ValueError, "num_frames"),
        ({"eval_results": {"mAP_macro": float("nan")}}, ValueError, "mAP_macro"),
        ({"eval_results": {"mAP_macro": "high"}}, ValueError, "finite number"),
        ({"dataset_name": None, "dataset_id": None}, ValueError, "dataset_name"),
        ({"base_models": ["ok/model", ""]}, ValueError, "base_models"),
    ],
)
def test_bad_input_is_rejected(tmp_path, overrides, error, message):
    with pytest.raises(error, match=message):
        render(tmp_path, **overrides)


def test_model_dir_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        render(tmp_path / "missing")


def test_from_config_and_evaluation_report(tmp_path):
    config = tiny_config(problem_type="single_label_classification", classifier_head="shared")
    report = {
        "eval_top1": 0.5,
        "top5": 1.0,
        "per_class_ap": {"walking": 0.5},
        "num_videos": 12,
        "epoch": 3,
    }
    with CaptureLogger(model_card.logger) as captured:
        card = render_model_card(tmp_path, ModelCardInfo.from_config(config, report, dataset_name="Synthetic actions"))
    assert "3 evaluation report entries" in captured.out and "per_class_ap" in captured.out
    data = ModelCard.load(tmp_path / "README.md").data
    assert {r.metric_name: r.metric_value for r in data.eval_results} == {"Top-1 accuracy": 0.5, "Top-5 accuracy": 1.0}
    for name in config.id2label.values():
        assert f"| {name} |" in card.text
    assert "**Input:** 4 RGB frames" in card.text
    assert "one linear scorer, shared by all labels" in card.text

    assert "a TimeSformer (divided space-time attention) encodes" in card.text
    assert "A frozen CLIP image encoder embeds every frame" in card.text

    config = tiny_config(video_config=dict(model_type="videomae", image_size=32, patch_size=8), use_video_query=False)
    card = render_model_card(tmp_path, ModelCardInfo.from_config(config))
    # The frame size comes from the video encoder's image size, or from the video processor when given.
    assert "RGB frames of 32x32 pixels" in card.text and "224" not in card.text
    video_processor = MSQNetVideoProcessor(crop_size={"height": 48, "width": 64})
    card = render_model_card(tmp_path, ModelCardInfo.from_config(config, video_processor=video_processor))
    assert (
        "RGB frames of 48x64 pixels (height x width)" in card.text
        and f"(1, {config.num_frames}, 3, 48, 64)" in card.text
    )
    assert "a VideoMAE (joint space-time attention over tubelets) encodes" in card.text
    assert "without the CLIP video query" in card.text and "frozen CLIP image encoder" not in card.text

    config.problem_type = None
    with pytest.raises(ValueError, match="problem_type"):
        ModelCardInfo.from_config(config)


def test_eval_report_to_results_strips_prefixes():
    assert eval_report_to_results({"eval_mAP_macro": 0.5, "test_AP_micro": 0.25, "eval_loss": 1.5}) == {
        "mAP_macro": 0.5,
        "AP_micro": 0.25,
        "loss": 1.5,
    }


def test_metrics_package_report_keys(tmp_path):
    # The keys modeling_msqnet.metrics returns: a NaN mAP (no class with positives) is left out, not written.
    report = {"top1_accuracy": 0.75, "top5_accuracy": 1.0, "mAP_macro": float("nan"), "per_class_AP": [0.5, None]}
    with CaptureLogger(model_card.logger) as captured:
        assert eval_report_to_results(report) == {"top1_accuracy": 0.75, "top5_accuracy": 1.0}
    assert "2 evaluation report entries" in captured.out and "'mAP_macro'" in captured.out
    render(tmp_path, eval_results=eval_report_to_results(report))
    data = ModelCard.load(tmp_path / "README.md").data
    assert {r.metric_name: (r.metric_type, r.metric_value) for r in data.eval_results} == {
        "Top-1 accuracy": ("accuracy", 0.75),
        "Top-5 accuracy": ("top_5_accuracy", 1.0),
    }
