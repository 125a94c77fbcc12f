"""PNG figures: training curves, per-class AP, top-k confidences and the timeline are written, readable, draw what they
should (titles, axes, labels, bars, segments), and reject bad input."""

import math

import numpy as np
import pytest
from drawn_figures import record_saved_figures
from PIL import Image

from modeling_msqnet.publishing import plots
from modeling_msqnet.publishing.plots import plot_per_class_ap, plot_top_k_confidences, plot_training_curves
from modeling_msqnet.timeline import Timeline, plot_timeline
from modeling_msqnet.timeline import plot as timeline_plot


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


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plot functions save, in order (they are still written to their files)."""
    return record_saved_figures(monkeypatch, plots, timeline_plot)


def tick_labels(axes):
    return [label.get_text() for label in axes.get_yticklabels()]


def bar_widths(axes):
    return [patch.get_width() for patch in axes.patches]


def epoch_history(num_epochs=8):
    return [
        {"epoch": epoch, "train_loss": 0.7 * math.exp(-epoch / 3), "eval_mAP_macro": 0.7 * (1 - math.exp(-epoch / 2))}
        for epoch in range(1, num_epochs + 1)
    ]


def test_training_curves(tmp_path, drawn):
    history = epoch_history()
    path = plot_training_curves(history, tmp_path / "curves" / "training_curves.png", title="run")
    assert path == tmp_path / "curves" / "training_curves.png"
    assert_png(path)
    (figure,) = drawn
    loss_axes, metric_axes = figure.axes
    assert figure.get_suptitle() == "run"
    assert (loss_axes.get_title(), loss_axes.get_xlabel(), loss_axes.get_ylabel()) == (
        "Training loss",
        "epoch",
        "train_loss",
    )
    assert list(loss_axes.lines[0].get_xdata()) == [entry["epoch"] for entry in history]
    assert np.allclose(loss_axes.lines[0].get_ydata(), [entry["train_loss"] for entry in history])
    assert (metric_axes.get_title(), metric_axes.get_ylabel()) == ("Validation mAP_macro", "eval_mAP_macro")
    assert np.allclose(metric_axes.lines[0].get_ydata(), [entry["eval_mAP_macro"] for entry in history])
    # The best epoch (the last: the metric rises) is starred and named in the legend.
    best = metric_axes.lines[1]
    assert (list(best.get_xdata()), list(best.get_ydata())) == ([8], [history[-1]["eval_mAP_macro"]])
    assert metric_axes.get_legend().get_texts()[0].get_text() == f"best {history[-1]['eval_mAP_macro']:.4f} at epoch 8"


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


def test_per_class_ap_sorted_with_no_positive_classes(tmp_path, drawn):
    per_class_ap = dict(zip(LABELS, [0.9, 0.1, float("nan"), 0.5, None, 0.75, 1.0]))
    _, height = assert_png(plot_per_class_ap(per_class_ap, tmp_path / "ap.png", title="Per-class AP"))
    (axes,) = drawn[0].axes
    # Best first, then the classes without positives (empty bars), by name.
    assert tick_labels(axes) == [
        "Competing for dominance",
        "walking",
        "Being carried in mouth",
        "sleeping",
        "jumping",
        "eating",
        "running",
    ]
    assert bar_widths(axes) == [1.0, 0.9, 0.75, 0.5, 0.1, 0.0, 0.0]
    assert (axes.get_title(), axes.get_xlabel()) == ("Per-class AP", "average precision")
    mean_ap = (1.0 + 0.9 + 0.75 + 0.5 + 0.1) / 5
    assert axes.get_legend().get_texts()[0].get_text() == f"mean AP {mean_ap:.4f} over 5 classes with positives"
    assert sum(text.get_text() == "no positives" for text in axes.texts) == 2
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
def test_top_k_confidences(tmp_path, with_image, drawn):
    examples = make_examples(with_image=with_image)
    assert_png(plot_top_k_confidences(examples, tmp_path / "top5.png", k=5))
    bar_axes = [axes for axes in drawn[0].axes if axes.patches]
    image_axes = [axes for axes in drawn[0].axes if axes.images]
    assert len(bar_axes) == 3 and len(image_axes) == (3 if with_image else 0)
    for axes, example in zip(bar_axes, examples):
        top = sorted(example["scores"].items(), key=lambda item: (-item[1], item[0]))[:5]
        expected = [f"{label} ✓" if label in example["ground_truth"] else label for label, _ in top]
        assert axes.get_title() == example["title"]
        assert [label.replace("\n", " ") for label in tick_labels(axes)] == expected
        assert np.allclose(bar_widths(axes), [score for _, score in top])
        missed = [label for label in example["ground_truth"] if label not in dict(top)]
        assert ("ground truth outside the top 5" in axes.get_xlabel()) == bool(missed)


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


def test_timeline_plot_draws_scores_segments_and_undecodable_stretches(tmp_path, drawn):
    starts = np.arange(0.0, 8.0, 2.0)
    scores = np.array([[0.9, 0.1, 0.2], [0.8, 0.1, 0.3], [np.nan, np.nan, np.nan], [0.2, 0.7, 0.1]])
    timeline = Timeline(
        video="clip.mp4",
        duration=12.0,
        labels=["walking", "jumping", "eating"],
        window_starts=starts,
        window_ends=starts + 4.0,
        scores=scores,
        segments=[{"label": "walking", "start": 0.0, "end": 6.0}, {"label": "jumping", "start": 6.0, "end": 10.0}],
        undecodable=[{"start": 4.0, "end": 6.0}],
        settings={},
    )
    assert_png(plot_timeline(timeline, tmp_path / "timeline.png", max_labels=2), min_height=100)
    axes = drawn[0].axes[0]
    assert tick_labels(axes) == ["walking", "jumping"]  # the two labels with the highest peaks, in label order
    assert (axes.get_xlabel(), axes.get_title()) == ("time (s)", "clip.mp4: label scores (segments outlined)")
    assert axes.get_xlim() == (0.0, 12.0)
    outlines = [patch for patch in axes.patches if not patch.get_hatch()]
    assert [(patch.get_x(), patch.get_width(), round(patch.get_y() + 0.42)) for patch in outlines] == [
        (0.0, 6.0, 0),
        (6.0, 4.0, 1),
    ]
    hatched = [patch for patch in axes.patches if patch.get_hatch() == "//"]
    assert len(hatched) == 1 and hatched[0].get_x() == 4.0
    mesh = axes.collections[0].get_array()
    assert mesh.shape == (2, 4) and mesh.mask[:, 2].all() and np.allclose(mesh[:, 0], [0.9, 0.1])
