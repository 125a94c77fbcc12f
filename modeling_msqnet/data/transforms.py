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
"""On-the-fly decoding and augmentation of manifest datasets, for `datasets.Dataset.set_transform`."""

import math
import zlib
from dataclasses import dataclass

import av
import numpy as np
import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F
from transformers.utils import logging

from ..hub_code.configuration_msqnet import MULTI_LABEL_CLASSIFICATION, PROBLEM_TYPES, SINGLE_LABEL_CLASSIFICATION
from ..hub_code.video_decoding import VideoDecodingError, read_frames
from .manifest import multi_hot


logger = logging.get_logger(__name__)

# What a corrupt, truncated or missing video raises while it is read; anything else is a bug and propagates.
DECODING_ERRORS = (VideoDecodingError, av.FFmpegError, OSError, ValueError)


def multiscale_crop_candidates(
    height: int, width: int, crop_size: tuple[int, int], scales=(1.0, 0.875, 0.75, 0.66), max_distort: int = 1
) -> tuple[list[tuple[int, int]], list]:
    """
    The crop sizes and corner offsets of TSN's multi-scale crop (`GroupMultiScaleCrop` with `fix_crop=True`,
    `more_fix_crop=True`), which MSQNet's training uses.

    Crop sides are `int(short_side * scale)` (snapped to the output side when within 3 pixels), width and height
    scales at most `max_distort` steps apart; offsets are the 13 fixed positions (corners, centre, edge centres and
    quarter points) of a 4x4 grid of steps.

    Args:
        height (`int`), width (`int`):
            Size of the frames.
        crop_size (`tuple[int, int]`):
            `(height, width)` of the output.
        scales (`Sequence[float]`, *optional*, defaults to `(1.0, 0.875, 0.75, 0.66)`):
            Crop sides as fractions of the short side.
        max_distort (`int`, *optional*, defaults to 1):
            Largest difference between the width and height scale indices.

    Returns:
        `tuple`: the `(crop_height, crop_width)` pairs, and a function `(crop_height, crop_width) -> list of
        (top, left)` offsets.
    """
    output_height, output_width = crop_size
    base_size = min(height, width)
    sides = [int(base_size * scale) for scale in scales]
    crop_heights = [output_height if abs(side - output_height) < 3 else side for side in sides]
    crop_widths = [output_width if abs(side - output_width) < 3 else side for side in sides]
    pairs = [
        (crop_height, crop_width)
        for i, crop_height in enumerate(crop_heights)
        for j, crop_width in enumerate(crop_widths)
        if abs(i - j) <= max_distort
    ]

    def offsets(crop_height: int, crop_width: int) -> list[tuple[int, int]]:
        height_step = (height - crop_height) // 4
        width_step = (width - crop_width) // 4
        grid = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2), (2, 0), (2, 4), (4, 2), (0, 2), (1, 1), (1, 3), (3, 1), (3, 3)]
        return [(row * height_step, column * width_step) for row, column in grid]

    return pairs, offsets


@dataclass
class ClipAugmentation:
    """
    MSQNet's train-time augmentation, with the same random parameters for every frame of a clip.

    In order: a multi-scale crop resized to `crop_size` (see [`multiscale_crop_candidates`]), a horizontal flip, a
    colour jitter (torchvision `ColorJitter` semantics: brightness, contrast, saturation and hue factors drawn
    uniformly, the four operations in random order), and a conversion to 3-channel grayscale. Works on uint8 clips
    `(num_frames, 3, height, width)`; all randomness comes from the `np.random.Generator` passed in, so a clip is
    reproducible from its generator's seed.

    The authors' code differs in two ways that this class does not copy: its flip is built with `is_sth=True`, which
    turns it off (use `flip_probability=0.0` to match), and its colour jitter draws new factors for every frame.

    Args:
        crop_size (`tuple[int, int]`, *optional*, defaults to `(224, 224)`):
            `(height, width)` of the output clip.
        scales (`tuple[float, ...]`, *optional*, defaults to `(1.0, 0.875, 0.75, 0.66)`):
            Crop sides as fractions of the short side.
        max_distort (`int`, *optional*, defaults to 1):
            Largest difference between the width and height scale indices.
        flip_probability (`float`, *optional*, defaults to 0.5):
            Probability of a horizontal flip.
        jitter_probability (`float`, *optional*, defaults to 0.8):
            Probability of the colour jitter.
        brightness (`float`, *optional*, defaults to 0.4), contrast (`float`, *optional*, defaults to 0.4),
        saturation (`float`, *optional*, defaults to 0.2), hue (`float`, *optional*, defaults to 0.1):
            Colour jitter strengths, as in torchvision's `ColorJitter`.
        grayscale_probability (`float`, *optional*, defaults to 0.2):
            Probability of converting the clip to grayscale.
    """

    crop_size: tuple[int, int] = (224, 224)
    scales: tuple[float, ...] = (1.0, 0.875, 0.75, 0.66)
    max_distort: int = 1
    flip_probability: float = 0.5
    jitter_probability: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grayscale_probability: float = 0.2

    def min_frame_side(self) -> int:
        """The shortest frame side (in pixels) whose smallest multi-scale crop is at least 1 pixel."""
        return math.ceil(1 / min(self.scales))

    def sample_parameters(self, height: int, width: int, rng: np.random.Generator) -> dict:
        """Draw the random parameters of one clip of frames `height` x `width`."""
        if min(height, width) < self.min_frame_side():
            raise ValueError(
                f"Frames of {width}x{height} pixels are too small for the multi-scale crop (scales {self.scales}); "
                f"the short side must be at least {self.min_frame_side()} pixels."
            )
        pairs, offsets = multiscale_crop_candidates(
            height, width, tuple(self.crop_size), self.scales, self.max_distort
        )
        crop_height, crop_width = pairs[rng.integers(len(pairs))]
        candidates = offsets(crop_height, crop_width)
        top, left = candidates[rng.integers(len(candidates))]
        parameters = {
            "crop": (int(top), int(left), int(crop_height), int(crop_width)),
            "flip": bool(rng.random() < self.flip_probability),
            "jitter": None,
            "grayscale": False,
        }
        if rng.random() < self.jitter_probability:
            parameters["jitter"] = {
                "order": [int(index) for index in rng.permutation(4)],
                "brightness": float(rng.uniform(max(0.0, 1 - self.brightness), 1 + self.brightness)),
                "contrast": float(rng.uniform(max(0.0, 1 - self.contrast), 1 + self.contrast)),
                "saturation": float(rng.uniform(max(0.0, 1 - self.saturation), 1 + self.saturation)),
                "hue": float(rng.uniform(-self.hue, self.hue)),
            }
        parameters["grayscale"] = bool(rng.random() < self.grayscale_probability)
        return parameters

    def apply(self, clip: torch.Tensor, parameters: dict) -> torch.Tensor:
        """Apply parameters from [`~ClipAugmentation.sample_parameters`] to a uint8 clip `(T, 3, H, W)`."""
        top, left, crop_height, crop_width = parameters["crop"]
        clip = F.crop(clip, top, left, crop_height, crop_width)
        clip = F.resize(clip, list(self.crop_size), interpolation=InterpolationMode.BILINEAR, antialias=True)
        if parameters["flip"]:
            clip = F.horizontal_flip(clip)
        jitter = parameters["jitter"]
        if jitter is not None:
            operations = (
                lambda x: F.adjust_brightness(x, jitter["brightness"]),
                lambda x: F.adjust_contrast(x, jitter["contrast"]),
                lambda x: F.adjust_saturation(x, jitter["saturation"]),
                lambda x: F.adjust_hue(x, jitter["hue"]),
            )
            for index in jitter["order"]:
                clip = operations[index](clip)
        if parameters["grayscale"]:
            clip = F.rgb_to_grayscale(clip, num_output_channels=3)
        return clip

    def __call__(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Augment a uint8 clip `(T, 3, H, W)` with parameters drawn from `rng`."""
        if clip.ndim != 4 or clip.shape[1] != 3 or clip.dtype != torch.uint8:
            raise ValueError(f"Expected a uint8 clip of shape (T, 3, H, W), got {tuple(clip.shape)} {clip.dtype}.")
        return self.apply(clip, self.sample_parameters(clip.shape[-2], clip.shape[-1], rng))


class MSQNetVideoTransform:
    """
    Decodes and prepares the videos of a manifest dataset (see
    [`~modeling_msqnet.data.load_manifest_dataset`]) on the fly; use it with `dataset.set_transform(transform)`.

    - Evaluation (`train=False`): the middle frame of each of `num_frames` equal segments of the clip, then the video
      processor exactly as at inference (resize the shortest edge, centre crop, rescale, normalise).
    - Training (`train=True`): a random frame of each segment, then [`ClipAugmentation`] (identical for all frames of
      the clip), then the video processor with resizing and cropping off (rescale and normalise only).

    All randomness of an example comes from a generator seeded with `(seed, epoch, index)`, `index` being the
    example's `index` column (its row in the manifest), so an example's output does not depend on the order, batch or
    worker it is read in, and training resumes exactly: call [`~MSQNetVideoTransform.set_epoch`] before each epoch
    (before the `DataLoader` iterator is created, as worker processes take a copy of the transform; do not combine with
    `persistent_workers=True`).

    A video that cannot be read (or, when training, whose frames are too small for the multi-scale crop) does not
    raise: its example gets `pixel_values=None` and the error message under
    `decoding_error`, and [`~modeling_msqnet.data.MSQNetDataCollator`] leaves it out of the batch and counts it.

    Outputs per example: `pixel_values` (float `(num_frames, 3, height, width)`, or `None`), `labels` (multi-hot
    float32 `(num_labels,)` for multi-label problems, an int64 class index for single-label ones), `video` and
    `decoding_error` (`None`, or why the video was skipped).

    Args:
        video_processor ([`MSQNetVideoProcessor`]):
            The model's video processor (its `crop_size`, `num_frames`, mean and std are used).
        num_labels (`int`):
            Number of classes.
        problem_type (`str`, *optional*, defaults to `"multi_label_classification"`):
            `"multi_label_classification"` or `"single_label_classification"`.
        train (`bool`, *optional*, defaults to `False`):
            Random frame sampling and augmentation.
        num_frames (`int`, *optional*):
            Frames per clip; defaults to `video_processor.num_frames`.
        seed (`int`, *optional*, defaults to 0):
            Seed of the per-example random generators.
        augmentation ([`ClipAugmentation`], *optional*):
            Train-time augmentation; the paper's settings with the processor's `crop_size` when not given.
        decode_shortest_edge (`int`, *optional*):
            Downscale frames while decoding so that their shortest edge has this length (faster training on large
            videos). Leave unset for evaluation: inference decodes at full resolution.

    Example:

    ```python
    >>> from modeling_msqnet import MSQNetVideoProcessor
    >>> from modeling_msqnet.data import MSQNetDataCollator, MSQNetVideoTransform, load_manifest_dataset

    >>> dataset = load_manifest_dataset("train.jsonl", model.config.label2id)
    >>> dataset.set_transform(MSQNetVideoTransform(MSQNetVideoProcessor(), model.config.num_labels, train=True))
    >>> loader = torch.utils.data.DataLoader(dataset, batch_size=8, collate_fn=MSQNetDataCollator())
    ```
    """

    def __init__(
        self,
        video_processor,
        num_labels: int,
        problem_type: str = MULTI_LABEL_CLASSIFICATION,
        *,
        train: bool = False,
        num_frames: int | None = None,
        seed: int = 0,
        augmentation: ClipAugmentation | None = None,
        decode_shortest_edge: int | None = None,
    ):
        if problem_type not in PROBLEM_TYPES:
            raise ValueError(f"`problem_type` must be one of {PROBLEM_TYPES}, got {problem_type!r}.")
        if int(num_labels) < 1:
            raise ValueError(f"`num_labels` must be at least 1, got {num_labels}.")
        self.video_processor = video_processor
        self.num_labels = int(num_labels)
        self.problem_type = problem_type
        self.train = train
        self.num_frames = int(num_frames if num_frames is not None else video_processor.num_frames)
        self.seed = int(seed)
        self.epoch = 0
        crop_size = video_processor.crop_size
        self.augmentation = augmentation or ClipAugmentation(crop_size=(crop_size["height"], crop_size["width"]))
        self.decode_shortest_edge = decode_shortest_edge

    @classmethod
    def from_config(cls, video_processor, config, **kwargs) -> "MSQNetVideoTransform":
        """
        Build the transform for a model config (its `num_labels`, `problem_type` and `num_frames`); `num_labels` may
        be given for targets over another label set (labels scored as inputs of the model's forward).
        """
        kwargs.setdefault("num_frames", getattr(config, "num_frames", None))
        num_labels = kwargs.pop("num_labels", None) or config.num_labels
        problem_type = config.problem_type or MULTI_LABEL_CLASSIFICATION
        return cls(video_processor, num_labels, problem_type, **kwargs)

    def set_epoch(self, epoch: int):
        """Use the random parameters of epoch `epoch` (training draws different frames and crops every epoch)."""
        self.epoch = int(epoch)

    def example_generator(self, index: int) -> np.random.Generator:
        """The random generator of one example in the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def encode_labels(self, label_ids) -> torch.Tensor:
        """Class indices -> multi-hot float32 `(num_labels,)`, or the int64 index of a single-label example."""
        label_ids = [int(label_id) for label_id in label_ids]
        out_of_range = [label_id for label_id in label_ids if not 0 <= label_id < self.num_labels]
        if out_of_range:
            raise ValueError(f"Label ids {out_of_range} are out of range for {self.num_labels} labels.")
        if self.problem_type == SINGLE_LABEL_CLASSIFICATION:
            if len(label_ids) != 1:
                raise ValueError(f"A single-label example needs exactly one label id, got {label_ids}.")
            return torch.tensor(label_ids[0], dtype=torch.int64)
        return torch.from_numpy(multi_hot([label_ids], self.num_labels)[0]).float()

    def decode(self, video: str, *, start=None, end=None, fps=None, rng=None) -> np.ndarray:
        """Read the `num_frames` frames of a clip: `(T, H, W, 3)` uint8 (random in-segment frames when training)."""
        frames, _ = read_frames(
            video,
            self.num_frames,
            mode="random" if self.train else "middle",
            rng=rng,
            start=start,
            end=end,
            folder_fps=fps,
            shortest_edge=self.decode_shortest_edge,
        )
        return frames

    def check_frame_size(self, video: str, frames: np.ndarray):
        """Raise a `VideoDecodingError` naming `video` when its frames are too small for training's crop."""
        height, width = frames.shape[1:3]
        if self.train and min(height, width) < self.augmentation.min_frame_side():
            raise VideoDecodingError(
                f"The video {video} has frames of {width}x{height} pixels, too small for the training crop (the short "
                f"side must be at least {self.augmentation.min_frame_side()} pixels)."
            )

    def process(self, frames: np.ndarray, rng: np.random.Generator | None = None) -> torch.Tensor:
        """Decoded frames `(T, H, W, 3)` uint8 -> `pixel_values` `(T, 3, height, width)` float."""
        # The channel axis is given, not guessed: frames 1 or 3 pixels high look channels-first to a guess.
        if not self.train:
            processed = self.video_processor(
                videos=[frames], do_sample_frames=False, input_data_format="channels_last", return_tensors="pt"
            )
            return processed["pixel_values"][0]
        clip = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        clip = self.augmentation(clip, rng if rng is not None else np.random.default_rng())
        return self.video_processor(
            videos=[clip],
            do_sample_frames=False,
            do_resize=False,
            do_center_crop=False,
            input_data_format="channels_first",
            return_tensors="pt",
        )["pixel_values"][0]

    def __call__(self, batch: dict) -> dict:
        videos = batch["video"]
        outputs = {"pixel_values": [], "labels": [], "video": [], "decoding_error": []}
        for position, video in enumerate(videos):
            start, end, fps = (batch.get(key, [None] * len(videos))[position] for key in ("start", "end", "fps"))
            index = batch["index"][position] if batch.get("index") is not None else None
            if index is None:
                # Datasets built without an `index` column: a stable key from the clip itself.
                index = zlib.crc32(f"{video}|{start}|{end}".encode())
            rng = self.example_generator(index)
            outputs["labels"].append(self.encode_labels(batch["label_ids"][position]))
            outputs["video"].append(video)
            try:
                frames = self.decode(video, start=start, end=end, fps=fps, rng=rng)
                self.check_frame_size(video, frames)
            except DECODING_ERRORS as error:
                logger.warning(f"Skipping {video}: {error}")
                outputs["pixel_values"].append(None)
                outputs["decoding_error"].append(f"{type(error).__name__}: {error}")
                continue
            outputs["pixel_values"].append(self.process(frames, rng))
            outputs["decoding_error"].append(None)
        return outputs
