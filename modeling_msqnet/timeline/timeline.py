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
"""An action timeline over a long video: MSQNet's label scores in sliding windows, and per-label segments.

Window `k` covers `[k * stride_seconds, k * stride_seconds + window_seconds)`; each window's frames are sampled as the
video processor samples a clip (the middle frame of each of `num_frames` equal segments of the frames whose
presentation time lies in the window, as a manifest's `start`/`end` selects them). The video is decoded once, front to
back; each sampled frame is decoded, preprocessed and (for models with a video query) embedded by the CLIP image
encoder once, however many windows share it; windows go through the model in batches, and only the frames of windows
not yet scored are kept in memory.
"""

import csv
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers.utils import logging

from ..hub_code.configuration_msqnet import SINGLE_LABEL_CLASSIFICATION
from ..hub_code.video_decoding import VideoDecodingError, sample_frame_indices
from ..publishing.model_folder import atomic_output
from .streaming import StreamingVideoReader


logger = logging.get_logger(__name__)

DEFAULT_WINDOW_SECONDS = 4.0
DEFAULT_STRIDE_SECONDS = 2.0
DEFAULT_THRESHOLD = 0.5


@dataclass
class Timeline:
    """
    Label scores over time for one video.

    Args:
        video (`str`): The video file.
        duration (`float`): Its duration in seconds.
        labels (`list[str]`): The model's labels, in the order of the score columns.
        window_starts, window_ends (`np.ndarray`): `(num_windows,)` start and end of each window, in seconds.
        scores (`np.ndarray`): `(num_windows, num_labels)` sigmoid (multi-label) or softmax (single-label) scores;
            rows of windows that could not be scored are NaN.
        segments (`list[dict]`): Per-label segments: `label`, `start`, `end`, `peak_score`, `peak_time`.
        undecodable (`list[dict]`): Stretches whose frames could not be decoded: `start`, `end`, `num_frames`.
        settings (`dict`): The window, stride and segment options used.
    """

    video: str
    duration: float
    labels: list
    window_starts: np.ndarray
    window_ends: np.ndarray
    scores: np.ndarray
    segments: list = field(default_factory=list)
    undecodable: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        windows = []
        for start, end, row in zip(self.window_starts.tolist(), self.window_ends.tolist(), self.scores):
            scores = None if np.isnan(row).any() else {label: float(s) for label, s in zip(self.labels, row)}
            windows.append({"start": start, "end": end, "scores": scores})
        return {
            "video": self.video,
            "duration": self.duration,
            "labels": list(self.labels),
            "settings": dict(self.settings),
            "windows": windows,
            "segments": list(self.segments),
            "undecodable": list(self.undecodable),
        }

    def save_json(self, path):
        """Write `{"windows": [...], "segments": [...], ...}` to `path` (atomically)."""
        _atomic_write(path, lambda file: json.dump(self.to_dict(), file, indent=2))

    def save_csv(self, path):
        """Write one row per window: `start`, `end`, then one score column per label (empty when not scored)."""

        def write(file):
            writer = csv.writer(file)
            writer.writerow(["start", "end", *self.labels])
            for start, end, row in zip(self.window_starts.tolist(), self.window_ends.tolist(), self.scores):
                writer.writerow([f"{start:.3f}", f"{end:.3f}", *("" if np.isnan(s) else f"{s:.6f}" for s in row)])

        _atomic_write(path, write, newline="")


def _atomic_write(path, write, newline=None):
    suffix = Path(path).suffix.lower()
    with atomic_output(path, suffix) as temporary, open(temporary, "w", newline=newline) as file:
        write(file)


def window_bounds(duration: float, window_seconds: float, stride_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """
    Start and end (seconds) of the windows over a video of `duration` seconds: window `k` covers
    `[k * stride_seconds, k * stride_seconds + window_seconds)`, the last one ends at or before the end of the video,
    and a video shorter than one window gets one window, `[0, duration)`.
    """
    if not (window_seconds > 0 and math.isfinite(window_seconds)):
        raise ValueError(f"`window_seconds` must be a positive number of seconds, got {window_seconds}.")
    if not (stride_seconds > 0 and math.isfinite(stride_seconds)):
        raise ValueError(f"`stride_seconds` must be a positive number of seconds, got {stride_seconds}.")
    if duration <= window_seconds:
        return np.array([0.0]), np.array([float(duration)])
    # A small tolerance keeps a window that ends exactly at the end of the video despite rounding.
    num_windows = int(math.floor((duration - window_seconds) / stride_seconds + 1e-9)) + 1
    starts = np.arange(num_windows) * float(stride_seconds)
    return starts, starts + float(window_seconds)


def find_segments(
    window_starts,
    window_ends,
    scores,
    labels,
    threshold: float | Mapping[str, float] = DEFAULT_THRESHOLD,
    min_duration: float = 0.0,
    merge_gap: float = 0.0,
) -> list[dict]:
    """
    Per-label segments: the union of the windows whose score is at least `threshold` (one for all labels, or
    `{label: threshold}` for each), with pieces at most `merge_gap` seconds apart merged, then pieces shorter than
    `min_duration` seconds dropped.

    Returns:
        `list[dict]`: `{"label", "start", "end", "peak_score", "peak_time"}` sorted by start, then label order;
        `peak_time` is the middle of the best-scoring window of the segment.
    """
    if min_duration < 0 or merge_gap < 0:
        raise ValueError(f"`min_duration` and `merge_gap` must be >= 0, got {min_duration} and {merge_gap}.")
    window_starts = np.asarray(window_starts, dtype=np.float64)
    window_ends = np.asarray(window_ends, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    label_thresholds = per_label_thresholds(threshold, labels)
    segments = []
    for label_index, label in enumerate(labels):
        current = None
        for start, end, score in zip(window_starts, window_ends, scores[:, label_index]):
            if not score >= label_thresholds[label]:  # NaN (unscored) windows break segments too
                continue
            if current is not None and start <= current["end"] + merge_gap:
                current["end"] = max(current["end"], float(end))
                if score > current["peak_score"]:
                    current["peak_score"], current["peak_time"] = float(score), float((start + end) / 2)
                continue
            if current is not None:
                segments.append(current)
            current = {
                "label": label,
                "start": float(start),
                "end": float(end),
                "peak_score": float(score),
                "peak_time": float((start + end) / 2),
            }
        if current is not None:
            segments.append(current)
    segments = [segment for segment in segments if segment["end"] - segment["start"] >= min_duration]
    order = {label: i for i, label in enumerate(labels)}
    return sorted(segments, key=lambda segment: (segment["start"], order[segment["label"]]))


def per_label_thresholds(threshold: float | Mapping[str, float], labels) -> dict[str, float]:
    """`{label: threshold}` from one threshold for all `labels` or a mapping that must cover each of them."""
    if isinstance(threshold, Mapping):
        missing = [label for label in labels if label not in threshold]
        if missing:
            raise ValueError(f"The per-label thresholds lack the label(s) {missing}.")
        return {label: float(threshold[label]) for label in labels}
    return {label: float(threshold) for label in labels}


class TorchWindowScorer:
    """
    Scores windows with an `MSQNetForVideoClassification`: per-frame CLIP query embeddings averaged per window (the
    frames `get_query_frame_indices` picks, as the model does), then the model on the window's frames.
    """

    def __init__(self, model):
        self.model = model.eval()
        self.uses_frame_queries = bool(model.config.use_video_query)
        self.config = model.config

    def _to_model(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(device=self.model.device, dtype=self.model.dtype)

    @torch.inference_mode()
    def embed_frames(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """`(num_images, 3, H, W)` -> `(num_images, vision_hidden_size)` CLIP query embeddings."""
        return self.model.msqnet.get_frame_query_embeds(self._to_model(pixel_values))

    def query_frame_indices(self, num_frames: int):
        return self.model.msqnet.get_query_frame_indices(num_frames)

    @torch.inference_mode()
    def logits(self, pixel_values: torch.Tensor, frame_query_embeds: torch.Tensor | None) -> np.ndarray:
        """`pixel_values` `(B, T, 3, H, W)` and the embeddings of the query frames `(B, Q, D)` -> `(B, num_labels)`."""
        video_query_embeds = frame_query_embeds.mean(dim=1) if frame_query_embeds is not None else None
        output = self.model(
            pixel_values=self._to_model(pixel_values), video_query_embeds=video_query_embeds, return_dict=True
        )
        return output.logits.float().cpu().numpy()


def scores_from_logits(logits: np.ndarray, problem_type: str | None) -> np.ndarray:
    """Sigmoid for multi-label models (the default), softmax for single-label ones."""
    logits = np.asarray(logits, dtype=np.float64)
    if problem_type == SINGLE_LABEL_CLASSIFICATION:
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    return 1.0 / (1.0 + np.exp(-logits))


def compute_timeline(
    model,
    video_processor,
    video: str | os.PathLike,
    *,
    window_seconds: float = DEFAULT_WINDOW_SECONDS,
    stride_seconds: float = DEFAULT_STRIDE_SECONDS,
    threshold: float | Mapping[str, float] = DEFAULT_THRESHOLD,
    min_duration: float = 0.0,
    merge_gap: float = 0.0,
    batch_size: int = 8,
    num_frames: int | None = None,
    scorer=None,
    progress: bool = True,
) -> Timeline:
    """
    Score every window of a video with an MSQNet classifier and find per-label segments.

    Args:
        model (`MSQNetForVideoClassification`, *optional*):
            The classifier (ignored when `scorer` is given; its config still gives the labels and problem type).
        video_processor (`MSQNetVideoProcessor`):
            Preprocesses the frames (resize, crop, normalise), exactly as for one clip.
        video (`str` or `os.PathLike`):
            A video file.
        window_seconds (`float`, *optional*, defaults to 4.0):
            Length of a window in seconds.
        stride_seconds (`float`, *optional*, defaults to 2.0):
            Time between the starts of consecutive windows (half a window: each moment is seen by two windows).
        threshold (`float` or `dict[str, float]`, *optional*, defaults to 0.5):
            Score at or above which a window counts towards a label's segment: one for all labels, or one per label
            (`archive.read_thresholds` reads them from a calibrated thresholds file).
        min_duration (`float`, *optional*, defaults to 0.0):
            Segments shorter than this (seconds) are dropped.
        merge_gap (`float`, *optional*, defaults to 0.0):
            Segments of a label at most this many seconds apart are merged.
        batch_size (`int`, *optional*, defaults to 8):
            Windows per model call.
        num_frames (`int`, *optional*):
            Frames sampled per window (defaults to the model's `num_frames`).
        scorer (*optional*):
            What runs the model: a [`TorchWindowScorer`] by default, or `export.OnnxWindowScorer` for an exported model.
        progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar (with ETA) over the windows.

    Returns:
        [`Timeline`]
    """
    scorer = scorer if scorer is not None else TorchWindowScorer(model)
    config = scorer.config
    num_frames = int(num_frames or config.num_frames)
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be at least 1, got {batch_size}.")
    labels = [config.id2label[i] for i in range(len(config.id2label))]

    reader = StreamingVideoReader(video)
    starts, ends = window_bounds(reader.duration, window_seconds, stride_seconds)
    sampled = []  # per window: the sampled frame indices, or None when the window holds no frame
    for start, end in zip(starts.tolist(), ends.tolist()):
        first, last = reader.frame_range(start, end)
        sampled.append(first + sample_frame_indices(last - first, num_frames) if last > first else None)
    num_windows = len(sampled)
    query_positions = scorer.query_frame_indices(num_frames) if scorer.uses_frame_queries else None
    wanted = np.unique(np.concatenate([indices for indices in sampled if indices is not None] or [[0]]))

    scores = np.full((num_windows, len(labels)), np.nan)
    state = _StreamState(video_processor, scorer, sampled, query_positions)
    missing = []  # presentation indices of wanted frames that could not be decoded
    with tqdm(total=num_windows, unit="window", desc="Timeline", disable=not progress) as bar:
        for index, frame in reader.iter_frames(wanted):
            if frame is None:
                missing.append(index)
            state.add_frame(index, frame)
            for window_indices, window_scores in state.score_ready_windows(batch_size, final=False):
                scores[window_indices] = scores_from_logits(window_scores, config.problem_type)
                bar.update(len(window_indices))
        for window_indices, window_scores in state.score_ready_windows(batch_size, final=True):
            scores[window_indices] = scores_from_logits(window_scores, config.problem_type)
            bar.update(len(window_indices))
        bar.update(num_windows - bar.n)

    undecodable = _undecodable_stretches(reader, wanted, missing, starts, ends, sampled)
    unscored = int(np.isnan(scores).any(axis=1).sum())
    if undecodable or unscored:
        stretches = ", ".join(f"{stretch['start']:.2f}-{stretch['end']:.2f} s" for stretch in undecodable)
        logger.warning(
            f"{len(missing)} sampled frame(s) of {reader.path} could not be decoded ({stretches or 'no stretch'}); "
            f"{unscored} of {num_windows} window(s) could not be scored (their scores are null)."
        )
    settings = {
        "window_seconds": float(window_seconds),
        "stride_seconds": float(stride_seconds),
        "num_frames": num_frames,
        **_threshold_settings(threshold, labels),
        "min_duration": float(min_duration),
        "merge_gap": float(merge_gap),
    }
    return Timeline(
        video=reader.path,
        duration=reader.duration,
        labels=labels,
        window_starts=starts,
        window_ends=ends,
        scores=scores,
        segments=find_segments(starts, ends, scores, labels, threshold, min_duration, merge_gap),
        undecodable=undecodable,
        settings=settings,
    )


def _threshold_settings(threshold, labels) -> dict:
    """`{"threshold": t}` for one threshold; `{"threshold": None, "thresholds": {label: t}}` for per-label ones."""
    if isinstance(threshold, Mapping):
        return {"threshold": None, "thresholds": per_label_thresholds(threshold, labels)}
    return {"threshold": float(threshold)}


def _undecodable_stretches(reader: StreamingVideoReader, wanted, missing, starts, ends, sampled) -> list[dict]:
    """
    Stretches that could not be decoded, `{"start", "end", "num_frames"}` in seconds: runs of lost sampled frames and
    failed packets with no decoded sampled frame between them, and windows that hold no frame at all.
    """
    frame_seconds = 1.0 / reader.fps if reader.fps else 0.0
    missing_set = set(missing)
    events = [(float(reader.times[i]), int(i) in missing_set) for i in wanted.tolist()]
    events += [(time, True) for time in reader.failed_packet_times]
    events.sort(key=lambda event: (event[0], not event[1]))
    stretches, run = [], []
    for time, bad in events + [(math.inf, False)]:
        if bad:
            run.append(time)
        elif run:
            times = sorted(set(run))
            stretches.append({"start": times[0], "end": times[-1] + frame_seconds, "num_frames": len(times)})
            run = []
    for start, end, indices in zip(starts.tolist(), ends.tolist(), sampled):
        if indices is None:
            stretches.append({"start": start, "end": end, "num_frames": 0})
    stretches.sort(key=lambda stretch: stretch["start"])
    merged = []
    for stretch in stretches:
        if merged and stretch["start"] <= merged[-1]["end"]:
            merged[-1]["end"] = max(merged[-1]["end"], stretch["end"])
            merged[-1]["num_frames"] += stretch["num_frames"]
        else:
            merged.append(dict(stretch))
    return merged


class _StreamState:
    """The frames (preprocessed, and their query embeddings) of the windows not scored yet, and those windows."""

    def __init__(
        self, video_processor, scorer, sampled, query_positions, preprocess_batch: int = 16, max_raw_bytes: int = 2**26
    ):
        self.video_processor = video_processor
        self.scorer = scorer
        self.sampled = sampled
        self.query_positions = query_positions
        self.preprocess_batch = preprocess_batch
        self.max_raw_bytes = max_raw_bytes  # decoded RGB frames waiting for preprocessing (4K frames are 25 MB each)
        self.raw = []  # (index, RGB frame) decoded, not yet preprocessed
        self.pixels = {}  # index -> (3, H, W) preprocessed frame, or None when undecodable
        self.embeds = {}  # index -> query embedding
        self.next_window = 0  # first window not yet scored
        self.last_index = -1  # last frame index seen

    def add_frame(self, index, frame):
        self.last_index = index
        if frame is None:
            self.pixels[index] = None
        else:
            self.raw.append((index, frame))
        if len(self.raw) >= self.preprocess_batch or sum(frame.nbytes for _, frame in self.raw) > self.max_raw_bytes:
            self._preprocess()

    def _preprocess(self):
        if not self.raw:
            return
        frames = np.stack([frame for _, frame in self.raw])
        # One "video" of the buffered frames, no sampling: the same per-frame resize, crop and normalisation as a clip.
        pixel_values = self.video_processor(videos=[frames], do_sample_frames=False, return_tensors="pt").pixel_values[
            0
        ]
        for (index, _), pixels in zip(self.raw, pixel_values):
            self.pixels[index] = pixels
        self.raw = []

    def _window_ready(self, window, final):
        indices = self.sampled[window]
        return final or indices is None or int(indices[-1]) <= self.last_index

    def score_ready_windows(self, batch_size, final):
        """Yield `(window indices, logits)` for batches of windows whose frames have all been read."""
        while True:
            ready = []
            window = self.next_window
            while window < len(self.sampled) and len(ready) < batch_size and self._window_ready(window, final):
                ready.append(window)
                window += 1
            if not ready or (len(ready) < batch_size and not final and window < len(self.sampled)):
                return
            self._preprocess()
            self.next_window = window
            scorable = [w for w in ready if self._has_all_frames(w)]
            if scorable:
                yield np.asarray(scorable), self._score(scorable)
            self._release()

    def _has_all_frames(self, window):
        indices = self.sampled[window]
        return indices is not None and all(self.pixels.get(int(i)) is not None for i in indices)

    def _score(self, windows):
        pixel_values = torch.stack([torch.stack([self.pixels[int(i)] for i in self.sampled[w]]) for w in windows])
        frame_query_embeds = None
        if self.scorer.uses_frame_queries:
            query_frames = [
                self.sampled[w] if self.query_positions is None else self.sampled[w][self.query_positions.numpy()]
                for w in windows
            ]
            new = sorted({int(i) for frames in query_frames for i in frames} - self.embeds.keys())
            if new:
                embeds = self.scorer.embed_frames(torch.stack([self.pixels[i] for i in new]))
                self.embeds.update(zip(new, embeds))
            frame_query_embeds = torch.stack(
                [torch.stack([self.embeds[int(i)] for i in frames]) for frames in query_frames]
            )
        return self.scorer.logits(pixel_values, frame_query_embeds)

    def _release(self):
        """Forget the frames no window still to be scored uses."""
        remaining = [indices for indices in self.sampled[self.next_window :] if indices is not None]
        keep_from = int(remaining[0][0]) if remaining else math.inf
        for store in (self.pixels, self.embeds):
            for index in [index for index in store if index < keep_from]:
                del store[index]


__all__ = [
    "DEFAULT_STRIDE_SECONDS",
    "DEFAULT_THRESHOLD",
    "DEFAULT_WINDOW_SECONDS",
    "Timeline",
    "TorchWindowScorer",
    "VideoDecodingError",
    "compute_timeline",
    "find_segments",
    "per_label_thresholds",
    "scores_from_logits",
    "window_bounds",
]
