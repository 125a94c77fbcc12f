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
"""The timeline as a picture: a labels x time heatmap of the window scores with the segments drawn on it."""

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from transformers.utils import logging

from ..publishing.plots import DPI, png_output_path, save_figure, wrap_label


logger = logging.get_logger(__name__)


def plot_timeline(timeline, path, *, max_labels: int | None = None, title: str | None = None) -> Path:
    """
    Draw `timeline` ([`Timeline`]) as a heatmap: one row per label, time on the x axis, each window's score in the
    cell around its middle (one stride wide); segments as outlined boxes; undecodable stretches hatched in grey.

    Args:
        timeline ([`Timeline`]): The timeline to draw.
        path (`str` or `os.PathLike`): PNG file to write.
        max_labels (`int`, *optional*): Show only the labels with the highest peak scores.
        title (`str`, *optional*): Figure title (defaults to the video's file name).

    Returns:
        `Path`: the written file.
    """
    path = png_output_path(path)
    scores = np.asarray(timeline.scores, dtype=np.float64)
    labels = list(timeline.labels)
    rows = np.arange(len(labels))
    if max_labels is not None and max_labels < len(labels):
        peaks = np.nan_to_num(scores, nan=-1.0).max(axis=0) if len(scores) else np.zeros(len(labels))
        rows = np.sort(np.argsort(-peaks, kind="stable")[:max_labels])
    starts, ends = np.asarray(timeline.window_starts), np.asarray(timeline.window_ends)
    centres = (starts + ends) / 2
    # Cells are one stride wide around the window middles (a single window fills its own span).
    if len(centres) > 1:
        edges = np.concatenate([[centres[0] - (centres[1] - centres[0]) / 2], (centres[:-1] + centres[1:]) / 2])
        edges = np.append(edges, centres[-1] + (centres[-1] - centres[-2]) / 2)
    else:
        edges = np.array([starts[0], ends[0]])

    figure = Figure(figsize=(11, 1.2 + 0.32 * len(rows)), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    colormap = colormaps["viridis"].with_extremes(bad="lightgray")
    mesh = axes.pcolormesh(
        edges,
        np.arange(len(rows) + 1) - 0.5,
        np.ma.masked_invalid(scores[:, rows].T),
        cmap=colormap,
        vmin=0.0,
        vmax=1.0,
        shading="flat",
    )
    row_of = {labels[label_index]: row for row, label_index in enumerate(rows)}
    for segment in timeline.segments:
        if segment["label"] in row_of:
            axes.add_patch(
                Rectangle(
                    (segment["start"], row_of[segment["label"]] - 0.42),
                    segment["end"] - segment["start"],
                    0.84,
                    fill=False,
                    edgecolor="tab:red",
                    linewidth=1.6,
                )
            )
    for stretch in timeline.undecodable:
        axes.axvspan(stretch["start"], stretch["end"], facecolor="none", edgecolor="gray", hatch="//", linewidth=0)
    axes.set_yticks(np.arange(len(rows)), [wrap_label(labels[i]) for i in rows])
    axes.set_ylim(len(rows) - 0.5, -0.5)
    axes.set_xlim(min(edges[0], 0.0), max(edges[-1], timeline.duration))
    axes.set_xlabel("time (s)")
    axes.set_title(title if title is not None else f"{Path(timeline.video).name}: label scores (segments outlined)")
    figure.colorbar(mesh, ax=axes, label="score", fraction=0.03, pad=0.01)
    save_figure(figure, path)
    return path
