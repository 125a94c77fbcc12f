"""PNG figures: training curves, per-class AP and top-k confidences are written, readable, and reject bad input."""

import math

import numpy as np
import pytest
from PIL import Image

from modeling_msqnet.publishing.plots import plot_per_class_ap, plot_top_k_confidences, plot_training_curves


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LABELS = ["walking", "jumping", "eating", "sleeping", "running", "Being carried in mouth", "Competing for dominance"]


def assert_png(path, min_width=400, min_height=250):
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size > 10_000  # a drawn figure, not an empty canvas
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
        pixels = np.asarray(image.convert("L"))
    assert width >= min_width and height >= min_height
    assert pixels.std() > 10  # something is drawn
    return width, height


def epoch_history(num_epochs=8):
    return [
        {"epoch": epoch, "train_loss": 0.7 * math.exp(-epoch / 3), "eval_mAP_macro": 0.7 * (1 - math.exp(-epoch / 2))}
        for epoch in range(1, num_epochs + 1)
    ]


def test_training_curves(tmp_path):
    path = plot_training_curves(epoch_history(), tmp_path / "curves" / "training_curves.png", title="run")
    assert path == tmp_path / "curves" / "training_curves.png"
    assert_png(path)


def test_training_curves_from_trainer_log_history(tmp_path):
    # Trainer's log_history: loss entries every few steps, eval entries every epoch, both with "epoch" and "step".
    history = [{"loss": 1.0 / step, "epoch": step / 10, "step": step} for step in range(1, 31)]
    history += [{"eval_top1": 0.3 * epoch, "epoch": float(epoch), "step": 10 * epoch} for epoch in (1, 2, 3)]
    assert_png(plot_training_curves(history, tmp_path / "trainer.png"))
    assert_png(plot_training_curves(history, tmp_path / "chosen.png", loss_key="loss", metric_key="eval_top1"))


@pytest.mark.parametrize(
    "history, kwargs, message",
    [
        ([], {}, "`history` is empty"),
        ([{"epoch": 1, "train_loss": 0.5}], {}, "none of the keys"),
        ([{"epoch": 1, "eval_mAP_macro": 0.5}], {}, "none of the keys"),
        (epoch_history(), {"metric_key": "eval_f1"}, "eval_f1"),
        ([{"epoch": 1, "train_loss": "high", "mAP_macro": 0.1}], {}, r"history\[0\]\['train_loss'\]"),
        (
            [{"train_loss": 0.5}, {"epoch": 2, "train_loss": 0.4}, {"epoch": 2, "mAP_macro": 0.1}],
            {},
            "same x-axis key",
        ),
        ([{"epoch": 1, "train_loss": 0.5, "mAP_macro": 0.1}, "epoch 2"], {}, r"entries \[1\]"),
    ],
)
def test_training_curves_bad_input(tmp_path, history, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_training_curves(history, tmp_path / "curves.png", **kwargs)
    assert not (tmp_path / "curves.png").exists()


def test_per_class_ap_sorted_with_no_positive_classes(tmp_path):
    per_class_ap = dict(zip(LABELS, [0.9, 0.1, float("nan"), 0.5, None, 0.75, 1.0]))
    _, height = assert_png(plot_per_class_ap(per_class_ap, tmp_path / "ap.png", title="Per-class AP"))
    many = {f"class {i}": i / 60 for i in range(60)}
    _, many_height = assert_png(plot_per_class_ap(many, tmp_path / "many.png"))
    assert many_height > 2 * height  # one readable row per class


@pytest.mark.parametrize(
    "per_class_ap, message",
    [({}, "non-empty dict"), ({"walking": 1.5}, r"per_class_ap\['walking'\]"), ({"walking": "0.5"}, r"\[0, 1\]")],
)
def test_per_class_ap_bad_input(tmp_path, per_class_ap, message):
    with pytest.raises(ValueError, match=message):
        plot_per_class_ap(per_class_ap, tmp_path / "ap.png")


def make_examples(num_examples=3, with_image=False):
    rng = np.random.default_rng(0)
    examples = []
    for index in range(num_examples):
        scores = {name: float(score) for name, score in zip(LABELS, rng.uniform(0, 1, len(LABELS)))}
        example = {"title": f"clip {index}", "scores": scores, "ground_truth": [LABELS[index], LABELS[-1]]}
        if with_image:
            example["image"] = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        examples.append(example)
    return examples


@pytest.mark.parametrize("with_image", [False, True])
def test_top_k_confidences(tmp_path, with_image):
    assert_png(plot_top_k_confidences(make_examples(with_image=with_image), tmp_path / "top5.png", k=5))


def test_top_k_larger_than_label_set(tmp_path):
    assert_png(plot_top_k_confidences(make_examples(1), tmp_path / "top.png", k=50))


@pytest.mark.parametrize(
    "mutate, kwargs, message",
    [
        (lambda examples: examples.clear(), {}, "non-empty list"),
        (
            lambda examples: examples[1]["ground_truth"].append("flying"),
            {},
            r"examples\[1\]\['ground_truth'\].*flying",
        ),
        (lambda examples: examples[0]["scores"].update(walking=3.2), {}, r"examples\[0\]\['scores'\]\['walking'\]"),
        (lambda examples: examples[0].update(scores={}), {}, "non-empty dict"),
        (lambda examples: examples[2].update(ground_truth="walking"), {}, "list of labels"),
        (lambda examples: examples[0].update(image=np.zeros((4, 4))), {}, "frame"),
        (lambda examples: None, {"k": 0}, "`k`"),
    ],
)
def test_top_k_confidences_bad_input(tmp_path, mutate, kwargs, message):
    examples = make_examples()
    mutate(examples)
    with pytest.raises(ValueError, match=message):
        plot_top_k_confidences(examples, tmp_path / "top5.png", **kwargs)


def test_path_must_be_png(tmp_path):
    with pytest.raises(ValueError, match=r"\.png"):
        plot_training_curves(epoch_history(), tmp_path / "curves.jpg")
