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
"""Pictures of attention maps and embeddings: overlay grids (PNG), per-label animations (GIF), t-SNE panels (PNG)."""

import re
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from PIL import Image
from transformers.utils import logging

from ..file_utils import atomic_output
from ..publishing.plots import DPI, save_figure
from .attention_maps import VideoExplanation


logger = logging.get_logger(__name__)

OVERLAY_ALPHA = 0.5
COLORMAP = "jet"


def file_name_for(label: str) -> str:
    """A file-name-safe form of a label name (`"moving left"` -> `"moving_left"`)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "label"


def overlay(frame: np.ndarray, heatmap: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """An RGB uint8 frame `(H, W, 3)` blended with a [0, 1] heatmap `(H, W)` in the `jet` colours."""
    colours = colormaps[COLORMAP](np.clip(heatmap, 0.0, 1.0))[..., :3] * 255.0
    return ((1 - alpha) * frame.astype(np.float32) + alpha * colours).round().clip(0, 255).astype(np.uint8)


def _frames_or_gray(explanation: VideoExplanation) -> np.ndarray:
    if explanation.frames is not None:
        return explanation.frames
    return np.full((*explanation.backbone_map.shape, 3), 128, dtype=np.uint8)


def plot_attention_grid(explanation: VideoExplanation, path, title: str | None = None, cell_inches: float = 1.1):
    """
    The overlay grid of one video: a column per frame; rows: the frames, the bare backbone's rollout, then one row
    per explained label (with its score), as in the paper's Figure 3.

    Returns:
        `Path`: the PNG written.
    """
    frames = _frames_or_gray(explanation)
    rows = [("frames", None), (explanation.backbone_name, explanation.backbone_map)]
    rows += [
        (f"{name} ({explanation.probabilities[name]:.2f})", maps) for name, maps in explanation.label_maps.items()
    ]
    num_frames = frames.shape[0]
    figure = Figure(
        figsize=(cell_inches * num_frames + 1.6, cell_inches * len(rows) + (0.4 if title else 0.1)),
        dpi=DPI,
        layout="constrained",
    )
    axes = figure.subplots(len(rows), num_frames, squeeze=False)
    for row, (name, maps) in enumerate(rows):
        for column in range(num_frames):
            image = frames[column] if maps is None else overlay(frames[column], maps[column])
            ax = axes[row, column]
            ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"frame {column + 1}", fontsize=7)
            if column == 0:
                ax.set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
    if title:
        figure.suptitle(title, fontsize=9)
    save_figure(figure, path)
    return Path(path)


def write_attention_animation(
    frames: np.ndarray, maps: np.ndarray, path, min_side: int = 160, frame_duration_ms: int = 250
):
    """
    An animated GIF of the frames with one label's heatmap blended in, upscaled so its shorter side is at least
    `min_side` pixels.

    Returns:
        `Path`: the GIF written.
    """
    height, width = frames.shape[1:3]
    scale = max(1, int(np.ceil(min_side / min(height, width))))
    images = [
        Image.fromarray(overlay(frame, heat)).resize((width * scale, height * scale), Image.NEAREST)
        for frame, heat in zip(frames, maps)
    ]
    with atomic_output(path, ".gif") as temporary:
        images[0].save(
            temporary, format="GIF", save_all=True, append_images=images[1:], duration=frame_duration_ms, loop=0
        )
    return Path(path)


def write_explanation(explanation: VideoExplanation, output_dir, title: str | None = None) -> dict:
    """
    Write `attention_maps.npz` (one `(num_frames, height, width)` array per label, its name as the key),
    `backbone_rollout.npy`, `attention_grid.png` and one `attention_<label>.gif` per label into `output_dir`.

    Returns:
        `dict`: the paths written, by kind.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    arrays_path = output_dir / "attention_maps.npz"
    with atomic_output(arrays_path, ".npz") as temporary:
        with open(temporary, "wb") as file:
            np.savez_compressed(file, **explanation.label_maps)
    backbone_path = output_dir / "backbone_rollout.npy"
    with atomic_output(backbone_path, ".npy") as temporary:
        with open(temporary, "wb") as file:
            np.save(file, explanation.backbone_map)
    written = {"arrays": arrays_path, "backbone": backbone_path}
    written["grid"] = plot_attention_grid(explanation, output_dir / "attention_grid.png", title=title)
    frames = _frames_or_gray(explanation)
    written["animations"] = {
        name: write_attention_animation(frames, maps, output_dir / f"attention_{file_name_for(name)}.gif")
        for name, maps in explanation.label_maps.items()
    }
    return written


def plot_embedding_maps(points_before, points_after, labels, label_names, scores: dict, path, title=None):
    """
    Two t-SNE panels side by side, before and after the decoder, one colour per label, each titled with its k-NN label
    accuracy and silhouette (`scores["before"]`, `scores["after"]`).

    Returns:
        `Path`: the PNG written.
    """
    figure = Figure(figsize=(10.5, 4.8), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, 2)
    palette = colormaps["tab10" if len(label_names) <= 10 else "tab20"]

    def colour(index):
        # tab20 comes in light/dark pairs: dark ones first, so neighbouring labels never share a hue.
        if palette.N == 20:
            index = (2 * index) % 20 + (2 * index // 20) % 2
        return palette(index % palette.N)

    panels = (("before the decoder (pooled frame tokens)", points_before, scores["before"]),)
    panels += (("after the decoder (label-wise states)", points_after, scores["after"]),)
    for ax, (name, points, score) in zip(axes, panels):
        for index, label in enumerate(label_names):
            selected = labels == index
            if selected.any():
                ax.scatter(*points[selected].T, s=6, color=colour(index), label=label, alpha=0.8)
        ax.set_title(
            f"{name}\nk-NN accuracy {score['knn_accuracy']:.3f}, silhouette {score['silhouette']:.3f}", fontsize=9
        )
        ax.set_xticks([])
        ax.set_yticks([])
    handles, names = axes[1].get_legend_handles_labels()
    figure.legend(handles, names, loc="outside right center", fontsize=7, markerscale=2, frameon=False)
    if title:
        figure.suptitle(title, fontsize=10)
    save_figure(figure, path)
    return Path(path)


__all__ = [
    "file_name_for",
    "overlay",
    "plot_attention_grid",
    "plot_embedding_maps",
    "write_attention_animation",
    "write_explanation",
]
