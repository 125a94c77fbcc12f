# Copyright 2026 The msqnet authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""PNG figures for training runs and model cards: training curves, per-class AP, top-k confidences (paper, Fig. 5)."""

import math
import textwrap
from numbers import Real
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from transformers.utils import logging

from ..file_utils import atomic_output


logger = logging.get_logger(__name__)

# Figures are drawn on a standalone `Figure` (Agg canvas): no pyplot state, no global backend switch.
DPI = 120
LOSS_KEYS = ("train_loss", "loss")
METRIC_KEYS = (
    "eval_mAP_macro", "val_mAP_macro", "mAP_macro", "eval_mAP", "val_mAP", "mAP",
    "eval_top1", "val_top1", "top1", "eval_multilabel_accuracy", "val_multilabel_accuracy", "multilabel_accuracy",
)  # fmt: skip
X_KEYS = ("epoch", "step")
GROUND_TRUTH_COLOR = "tab:green"
OTHER_COLOR = "tab:gray"
LABEL_WIDTH = 30


def png_output_path(path) -> Path:
    """`path` as a `Path`, checked to end with .png, its folder created."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"Plots are PNG files: `path` must end with .png, got {str(path)!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(figure, path: Path):
    """Save a figure as PNG through a temporary file and a rename (never a half-written picture)."""
    with atomic_output(path, ".png") as temporary:
        figure.savefig(temporary, format="png", bbox_inches="tight", pad_inches=0.1)


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _ap_color(value: float) -> tuple:
    """Bar colour from red (AP 0) to green (AP 1)."""
    return colormaps["RdYlGn"](0.1 + 0.8 * value)


def wrap_label(label: str, width: int = LABEL_WIDTH) -> str:
    """`label` wrapped onto lines of at most `width` characters (axis tick labels)."""
    return "\n".join(textwrap.wrap(label, width)) or label


def _series(history: list[dict], key: str, kind: str):
    """(x values, y values, x-axis name) of the entries of `history` that have `key`."""
    entries = [(index, entry) for index, entry in enumerate(history) if key in entry]
    for index, entry in entries:
        if not _is_number(entry[key]):
            raise ValueError(f"`history[{index}][{key!r}]` must be a number, got {entry[key]!r}.")
    for x_key in X_KEYS:
        with_x = [index for index, entry in entries if x_key in entry]
        if len(with_x) == len(entries):
            xs = []
            for index, entry in entries:
                if not _is_number(entry[x_key]):
                    raise ValueError(f"`history[{index}][{x_key!r}]` must be a number, got {entry[x_key]!r}.")
                xs.append(entry[x_key])
            return xs, [entry[key] for _, entry in entries], x_key
        if with_x and x_key == "epoch":
            missing = [index for index, entry in entries if x_key not in entry]
            raise ValueError(
                f"{len(missing)} of the {len(entries)} {kind} entries of `history` (indices {missing[:10]}) have no "
                f"{x_key!r} while the others do: give every entry the same x-axis key."
            )
    return list(range(1, len(entries) + 1)), [entry[key] for _, entry in entries], "entry"


def _find_key(history: list[dict], key: str | None, candidates: tuple[str, ...], argument: str) -> str:
    seen = sorted({name for entry in history for name in entry})
    if key is not None:
        if key not in seen:
            raise ValueError(f"`{argument}`={key!r} is in no entry of `history`; keys present: {seen}.")
        return key
    for candidate in candidates:
        if candidate in seen:
            return candidate
    raise ValueError(
        f"`history` has none of the keys {list(candidates)}; keys present: {seen}. Pass `{argument}` to choose one."
    )


def plot_training_curves(
    history: list[dict], path, *, loss_key: str | None = None, metric_key: str | None = None, title: str | None = None
) -> Path:
    """
    Plot the training loss (left) and the validation metric (right, validation mAP by default) of a training run.

    Args:
        history (`list[dict]`):
            One dict per logged epoch or step, e.g. `{"epoch": 3, "train_loss": 0.21, "eval_mAP_macro": 0.64}`, or
            `Trainer`'s `state.log_history` (`loss` and `eval_*` entries). The x axis is `epoch` when every entry of a
            series has one, else `step`, else the entry's position.
        path (`str` or `os.PathLike`):
            PNG file to write.
        loss_key (`str`, *optional*):
            Loss key; defaults to the first of `train_loss`, `loss` found.
        metric_key (`str`, *optional*):
            Validation metric key; defaults to the first found of `eval_mAP_macro`, `mAP_macro`, `eval_mAP`, ...,
            `top1`, `multilabel_accuracy` (with `eval_`/`val_` prefixes or none).
        title (`str`, *optional*):
            Figure title.

    Returns:
        `Path`: the PNG written.
    """
    if not isinstance(history, (list, tuple)) or not history:
        raise ValueError("`history` is empty: it needs at least one entry with a training loss and one with a metric.")
    bad = [index for index, entry in enumerate(history) if not isinstance(entry, dict)]
    if bad:
        raise ValueError(f"`history` entries must be dicts; entries {bad[:10]} are not.")
    path = png_output_path(path)
    loss_key = _find_key(history, loss_key, LOSS_KEYS, "loss_key")
    metric_key = _find_key(history, metric_key, METRIC_KEYS, "metric_key")
    loss_x, loss_y, loss_x_name = _series(history, loss_key, "loss")
    metric_x, metric_y, metric_x_name = _series(history, metric_key, "metric")
    for key, values in ((loss_key, loss_y), (metric_key, metric_y)):
        non_finite = sum(not math.isfinite(value) for value in values)
        if non_finite:
            logger.warning(
                f"{non_finite} of the {len(values)} {key!r} values are not finite and leave gaps in {path}."
            )

    figure = Figure(figsize=(11, 4.2), dpi=DPI, layout="constrained")
    loss_axes, metric_axes = figure.subplots(1, 2)
    marker = "o" if len(loss_x) <= 60 else None
    loss_axes.plot(loss_x, loss_y, marker=marker, markersize=3, color="tab:blue")
    loss_axes.set(title="Training loss", xlabel=loss_x_name, ylabel=loss_key)
    loss_axes.grid(alpha=0.3)

    metric_axes.plot(metric_x, metric_y, marker="o", markersize=4, color="tab:orange")
    metric_name = metric_key.removeprefix("eval_").removeprefix("val_")
    metric_axes.set(title=f"Validation {metric_name}", xlabel=metric_x_name, ylabel=metric_key)
    metric_axes.grid(alpha=0.3)
    for axes, xs in ((loss_axes, loss_x), (metric_axes, metric_x)):
        if all(float(x).is_integer() for x in xs):
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    finite = [(y, x) for x, y in zip(metric_x, metric_y) if math.isfinite(y)]
    if finite:
        # Lower is better for losses, higher for every other metric.
        best_y, best_x = min(finite) if "loss" in metric_key else max(finite)
        best_label = f"best {best_y:.4f} at {metric_x_name} {best_x:g}"
        metric_axes.plot([best_x], [best_y], "*", markersize=14, color="tab:red", label=best_label)
        metric_axes.legend(loc="best")
    if title:
        figure.suptitle(title)
    save_figure(figure, path)
    return path


def plot_per_class_ap(per_class_ap: dict[str, float], path, *, title: str | None = None) -> Path:
    """
    Plot the average precision of every class as horizontal bars, best first, with the mean over the classes that have
    positives. Classes whose AP is NaN or `None` (no positive in the evaluation set) are listed last as "no positives".

    Args:
        per_class_ap (`dict[str, float]`):
            AP in [0, 1] by class name.
        path (`str` or `os.PathLike`):
            PNG file to write.
        title (`str`, *optional*):
            Figure title; defaults to "Per-class average precision".

    Returns:
        `Path`: the PNG written.
    """
    if not isinstance(per_class_ap, dict) or not per_class_ap:
        raise ValueError("`per_class_ap` must be a non-empty dict {class name: average precision}.")
    scored, no_positives = [], []
    for name, value in per_class_ap.items():
        if value is None or (_is_number(value) and math.isnan(value)):
            no_positives.append(str(name))
        elif not _is_number(value) or not 0.0 <= value <= 1.0:
            raise ValueError(
                f"`per_class_ap[{name!r}]` must be an AP in [0, 1] (or NaN for no positives), got {value!r}."
            )
        else:
            scored.append((float(value), str(name)))
    path = png_output_path(path)
    scored.sort(key=lambda item: (-item[0], item[1]))
    names = [name for _, name in scored] + sorted(no_positives)
    values = [value for value, _ in scored] + [0.0] * len(no_positives)

    num_classes = len(names)
    figure = Figure(figsize=(9, 1.3 + 0.24 * num_classes), dpi=DPI, layout="constrained")
    axes = figure.subplots()
    positions = np.arange(num_classes)
    colors = [_ap_color(value) for value in values[: len(scored)]] + [OTHER_COLOR] * len(no_positives)
    axes.barh(positions, values, color=colors, height=0.75)
    for position, (value, _) in enumerate(scored):
        axes.text(value + 0.01, position, f"{value:.3f}", va="center", fontsize=8)
    for position in range(len(scored), num_classes):
        axes.text(0.01, position, "no positives", va="center", fontsize=8, style="italic", color="dimgray")
    axes.set_yticks(positions, [wrap_label(name, 40) for name in names], fontsize=8)
    axes.set_ylim(num_classes - 0.5, -0.5)
    axes.set_xlim(0, 1.08)
    axes.set_xlabel("average precision")
    axes.grid(axis="x", alpha=0.3)
    if scored:
        mean_ap = sum(value for value, _ in scored) / len(scored)
        mean_label = f"mean AP {mean_ap:.4f} over {len(scored)} classes with positives"
        axes.axvline(mean_ap, color="black", linestyle="--", linewidth=1, label=mean_label)
        axes.legend(loc="lower right", fontsize=8)
    default_title = "Per-class average precision"
    if no_positives:
        default_title += f" ({len(no_positives)} of {num_classes} classes have no positives)"
    axes.set_title(title or default_title)
    save_figure(figure, path)
    return path


def _check_example(index: int, example) -> tuple[str, dict[str, float], list[str]]:
    if not isinstance(example, dict):
        raise ValueError(
            f"`examples[{index}]` must be a dict with 'scores' and 'ground_truth', got {type(example).__name__}."
        )
    scores = example.get("scores")
    if not isinstance(scores, dict) or not scores:
        raise ValueError(f"`examples[{index}]['scores']` must be a non-empty dict {{label: confidence}}.")
    for label, score in scores.items():
        if not _is_number(score) or not 0.0 <= score <= 1.0:
            raise ValueError(
                f"`examples[{index}]['scores'][{label!r}]` must be a confidence in [0, 1], got {score!r}."
            )
    ground_truth = example.get("ground_truth", [])
    if isinstance(ground_truth, str) or not isinstance(ground_truth, (list, tuple, set)):
        raise ValueError(f"`examples[{index}]['ground_truth']` must be a list of labels, got {ground_truth!r}.")
    unknown = [label for label in ground_truth if label not in scores]
    if unknown:
        raise ValueError(
            f"`examples[{index}]['ground_truth']` has labels without a score in `scores`: {unknown[:10]}; "
            f"scores and ground truth must use the same {len(scores)} label names."
        )
    title = example.get("title") or f"Example {index + 1}"
    return str(title), scores, list(ground_truth)


def plot_top_k_confidences(examples: list[dict], path, *, k: int = 5) -> Path:
    """
    Plot the `k` most confident labels of a few clips, ground-truth labels highlighted and ticked (the paper's
    Figure 5).

    Args:
        examples (`list[dict]`):
            One dict per clip: `{"title": str, "scores": {label: confidence in [0, 1]}, "ground_truth": [labels]}`,
            optionally with `"image"`: a frame (`(height, width, 3)` array) shown next to the bars.
        path (`str` or `os.PathLike`):
            PNG file to write.
        k (`int`, *optional*, defaults to 5):
            Number of labels shown per clip (all of them when a clip has fewer).

    Returns:
        `Path`: the PNG written.
    """
    if not isinstance(examples, (list, tuple)) or not examples:
        raise ValueError("`examples` must be a non-empty list of {'title', 'scores', 'ground_truth'} dicts.")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"`k` must be a positive integer, got {k!r}.")
    checked = [_check_example(index, example) for index, example in enumerate(examples)]
    images = [example.get("image") for example in examples]
    for index, image in enumerate(images):
        if image is not None and (np.ndim(image) != 3 or np.shape(image)[-1] not in (3, 4)):
            raise ValueError(
                f"`examples[{index}]['image']` must be a (height, width, 3 or 4) frame, got shape {np.shape(image)}."
            )
    path = png_output_path(path)

    with_images = any(image is not None for image in images)
    num_columns = min(len(examples), 2 if with_images else 3)
    num_rows = math.ceil(len(examples) / num_columns)
    panel_width = 7.5 if with_images else 4.8
    panel_height = 0.45 * min(k, 10) + 1.5
    figure = Figure(figsize=(panel_width * num_columns, num_rows * panel_height + 0.4), dpi=DPI, layout="constrained")
    if with_images:  # an image column, then a wider bar column, per example
        grid = figure.add_gridspec(num_rows, 2 * num_columns, width_ratios=[1, 1.8] * num_columns)
    else:
        grid = figure.add_gridspec(num_rows, num_columns)

    for index, ((title, scores, ground_truth), image) in enumerate(zip(checked, images)):
        row, column = divmod(index, num_columns)
        if with_images:
            image_axes = figure.add_subplot(grid[row, 2 * column])
            image_axes.axis("off")
            if image is not None:
                image_axes.imshow(np.asarray(image))
            axes = figure.add_subplot(grid[row, 2 * column + 1])
        else:
            axes = figure.add_subplot(grid[row, column])

        top = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
        labels = [label for label, _ in top]
        values = [score for _, score in top]
        is_ground_truth = [label in ground_truth for label in labels]
        positions = np.arange(len(top))
        colors = [GROUND_TRUTH_COLOR if truth else OTHER_COLOR for truth in is_ground_truth]
        axes.barh(positions, values, height=0.7, color=colors)
        for position, value in zip(positions, values):
            if value > 0.85:  # no room right of the bar: write inside it
                axes.text(value - 0.02, position, f"{value:.2f}", va="center", ha="right", fontsize=9, color="white")
            else:
                axes.text(value + 0.02, position, f"{value:.2f}", va="center", fontsize=9)
        tick_labels = [wrap_label(f"{label} ✓" if truth else label) for label, truth in zip(labels, is_ground_truth)]
        axes.set_yticks(positions, tick_labels, fontsize=9)
        for tick, truth in zip(axes.get_yticklabels(), is_ground_truth):
            if truth:
                tick.set_color(GROUND_TRUTH_COLOR)
                tick.set_fontweight("bold")
        axes.set_ylim(len(top) - 0.5, -0.5)
        axes.set_xlim(0, 1)
        missed = [label for label in ground_truth if label not in labels]
        xlabel = "confidence"
        if missed:
            xlabel += "\n" + wrap_label(f"ground truth outside the top {k}: " + ", ".join(missed), 45)
        axes.set_xlabel(xlabel, fontsize=9)
        axes.set_title(wrap_label(title, 50), fontsize=10)

    legend_handles = [Patch(color=GROUND_TRUTH_COLOR, label="ground truth ✓"), Patch(color=OTHER_COLOR, label="other")]
    figure.legend(handles=legend_handles, loc="outside lower center", ncols=2, fontsize=9)
    save_figure(figure, path)
    return path


__all__ = ["plot_training_curves", "plot_per_class_ap", "plot_top_k_confidences"]
