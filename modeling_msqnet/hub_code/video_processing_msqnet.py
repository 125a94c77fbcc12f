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
"""Video processor class for MSQNet."""

import os

import numpy as np
from transformers.image_processing_utils import BatchFeature
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, ChannelDimension, PILImageResampling
from transformers.utils import logging
from transformers.video_processing_utils import BaseVideoProcessor
from transformers.video_utils import VideoMetadata

from .video_decoding import VideoReader, sample_frame_indices


logger = logging.get_logger(__name__)


def _paths_to_str(videos):
    """`os.PathLike` videos (also inside lists) as `str`, the only path type transformers' video utilities accept."""
    if isinstance(videos, os.PathLike):
        return os.fspath(videos)
    if isinstance(videos, (list, tuple)) and any(isinstance(video, (os.PathLike, list, tuple)) for video in videos):
        return [_paths_to_str(video) for video in videos]
    return videos


def _is_path_input(videos) -> bool:
    """Whether `videos` is one path or a flat list of paths (decoded here into `(T, H, W, 3)` frames)."""
    if isinstance(videos, str):
        return True
    return isinstance(videos, (list, tuple)) and len(videos) > 0 and all(isinstance(video, str) for video in videos)


class MSQNetVideoProcessor(BaseVideoProcessor):
    r"""
    Constructs an MSQNet video processor: the test-time pipeline of the paper. It samples `num_frames` frames (the
    middle frame of each of `num_frames` equal segments), resizes their shortest edge to 256 (bilinear), centre-crops
    224x224, rescales to [0, 1] and normalises with CLIP's mean and standard deviation.

    Videos can be given as paths to video files or frame folders (decoded with PyAV, reading only the sampled frames),
    or as arrays/tensors of frames `(num_frames, height, width, channels)` (or channels first), or lists of those.
    Pass `input_data_format="channels_last"` (or `"channels_first"`) with arrays whose channel axis is ambiguous
    (frames 1 or 3 pixels high); decoded paths always are channels-last.

    Args:
        num_frames (`int`, *optional*, defaults to 16):
            Number of frames sampled from each video when `do_sample_frames=True`.
        do_sample_frames (`bool`, *optional*, defaults to `True`):
            Whether to sample `num_frames` frames, or to process every frame given.
        size (`dict[str, int]`, *optional*, defaults to `{"shortest_edge": 256}`):
            Size of the frames after resizing.
        crop_size (`dict[str, int]`, *optional*, defaults to `{"height": 224, "width": 224}`):
            Size of the centre crop.
        resample (`PILImageResampling`, *optional*, defaults to `PILImageResampling.BILINEAR`):
            Resampling filter used when resizing.
        image_mean (`list[float]`, *optional*, defaults to CLIP's mean):
            Mean used to normalise the frames.
        image_std (`list[float]`, *optional*, defaults to CLIP's standard deviation):
            Standard deviation used to normalise the frames.

    Example:

    ```python
    >>> from modeling_msqnet import MSQNetVideoProcessor

    >>> video_processor = MSQNetVideoProcessor(num_frames=16)
    >>> inputs = video_processor("video.mp4", return_tensors="pt")
    >>> inputs["pixel_values"].shape
    torch.Size([1, 16, 3, 224, 224])
    ```
    """

    resample = PILImageResampling.BILINEAR
    image_mean = OPENAI_CLIP_MEAN
    image_std = OPENAI_CLIP_STD
    size = {"shortest_edge": 256}
    default_to_square = False
    crop_size = {"height": 224, "width": 224}
    do_resize = True
    do_center_crop = True
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    do_convert_rgb = True
    do_sample_frames = True
    num_frames = 16
    model_input_names = ["pixel_values"]

    @classmethod
    def for_model(cls, config, backbone_processor=None, **kwargs):
        """
        A video processor for an MSQNet `config`: its `num_frames`, and a centre crop of the frames the model takes
        (its video encoder's size, else the CLIP query encoder's). The resize and normalisation follow the video
        encoder's own processor when there is one: `backbone_processor`, a processor or the Hub id / folder of the
        backbone (its `preprocessor_config.json` or `video_preprocessor_config.json`); its `image_mean`, `image_std`
        and `size` (scaled by the ratio of our crop to its crop) are taken. Without one, CLIP's statistics and a
        shortest edge of 8/7 of the crop (256 for 224) are kept. `kwargs` override any of these.
        """
        from .backbones_msqnet import video_backbone

        frame_size = video_backbone(config).image_size or config.vision_config.image_size
        defaults = {
            "num_frames": config.num_frames,
            "crop_size": {"height": frame_size, "width": frame_size},
            "size": {"shortest_edge": round(frame_size * 256 / 224)},
        }
        if isinstance(backbone_processor, (str, os.PathLike)):
            backbone_processor = _load_backbone_processor(backbone_processor)
        if backbone_processor is not None:
            defaults.update(_normalisation_of(backbone_processor, frame_size))
        return cls(**{**defaults, **kwargs})

    def sample_frames(self, metadata: VideoMetadata, num_frames: int | None = None, fps=None, **kwargs) -> np.ndarray:
        """
        Indices of the frames to keep: the middle frame of each of `num_frames` equal segments of the video (a video
        with fewer frames repeats frames, evenly spaced). See `video_decoding.sample_frame_indices`.

        Args:
            metadata (`VideoMetadata`):
                Metadata of the video; only `total_num_frames` is used.
            num_frames (`int`, *optional*):
                Number of frames to sample. Defaults to `self.num_frames`.

        Returns:
            `np.ndarray`: `int64` frame indices.
        """
        if fps is not None:
            raise ValueError(
                f"{self.__class__.__name__} samples a fixed number of frames per video (MSQNet is built for "
                f"`num_frames` frames); pass `num_frames` instead of `fps={fps}`."
            )
        num_frames = num_frames if num_frames is not None else self.num_frames
        total_num_frames = metadata["total_num_frames"] if metadata is not None else None
        if not total_num_frames:
            raise ValueError("Cannot sample frames from a video with no frames (`total_num_frames` is 0 or missing).")
        return sample_frame_indices(total_num_frames, num_frames, mode="middle")

    def fetch_videos(self, video_url_or_urls: str | list[str], sample_indices_fn=None):
        """
        Decode videos given as paths (files or frame folders) with PyAV, reading only the frames that
        `sample_indices_fn` selects.

        Args:
            video_url_or_urls (`str` or `list[str]`):
                One path or a list of paths.
            sample_indices_fn (`Callable`, *optional*):
                Called as `sample_indices_fn(metadata=VideoMetadata)`, returns the frame indices to read. Every frame
                is read when not given.

        Returns:
            For one path, a tuple `(frames, metadata)` with `frames` a `(num_frames, height, width, 3)` uint8 array and
            `metadata` a `VideoMetadata`; for a list, a list of two tuples (all frames, all metadata).
        """
        if isinstance(video_url_or_urls, (list, tuple)):
            return list(
                zip(*[self.fetch_videos(video, sample_indices_fn=sample_indices_fn) for video in video_url_or_urls])
            )

        with VideoReader(video_url_or_urls) as reader:
            metadata = VideoMetadata(
                total_num_frames=reader.num_frames, fps=reader.fps, duration=reader.duration, video_backend="pyav"
            )
            if sample_indices_fn is None:
                indices = np.arange(reader.num_frames)
            else:
                indices = np.asarray(sample_indices_fn(metadata=metadata), dtype=np.int64)
            video = reader.read(indices)
            # The upright frame size is known once frames are decoded (the display rotation may swap it).
            metadata.width, metadata.height = reader.info.width, reader.info.height
        metadata.frames_indices = indices
        return video, metadata

    def preprocess(self, videos, **kwargs) -> BatchFeature:
        """
        Sample, resize, crop, rescale and normalise `videos` (see the class docstring for the accepted inputs and
        `BaseVideoProcessor.preprocess` for the keyword arguments).

        Returns:
            [`BatchFeature`]: with `pixel_values`, `(batch_size, num_frames, 3, height, width)` when
            `return_tensors="pt"`, else a list of `(num_frames, 3, height, width)` tensors.
        """
        videos = _paths_to_str(videos)
        if _is_path_input(videos) and kwargs.get("input_data_format") is None:
            # Decoded frames are channels-last; guessing the channel axis fails on frames 1 or 3 pixels high.
            kwargs["input_data_format"] = ChannelDimension.LAST
        batch = super().preprocess(videos, **kwargs)
        batch["pixel_values"] = batch.pop("pixel_values_videos")
        return batch


def _load_backbone_processor(name_or_path):
    """
    The settings of the processor saved with a backbone checkpoint (its `video_preprocessor_config.json` or
    `preprocessor_config.json`, as a dict), or `None` (with a log line) when it has none.
    """
    import json

    from transformers.utils import cached_file

    for file_name in ("video_preprocessor_config.json", "preprocessor_config.json"):
        try:
            path = cached_file(
                name_or_path,
                file_name,
                _raise_exceptions_for_missing_entries=False,
                _raise_exceptions_for_connection_errors=False,
            )
        except OSError:
            path = None
        if path:
            with open(path, encoding="utf-8") as file:
                return json.load(file)
    logger.info(f"{name_or_path} holds no image or video processor; keeping MSQNet's defaults (CLIP's statistics).")
    return None


def _normalisation_of(processor, frame_size):
    """
    `image_mean`, `image_std` and `size` of a backbone's processor (an object or its settings as a dict), the resize
    scaled to our crop of `frame_size`.
    """
    settings = processor if isinstance(processor, dict) else vars(processor)
    taken = {}
    for key in ("image_mean", "image_std"):
        if settings.get(key) is not None:
            taken[key] = [float(v) for v in np.atleast_1d(settings[key])]
    size = _as_size_dict(settings.get("size"))
    crop = _as_size_dict(settings.get("crop_size"))
    crop_edge = crop.get("height") or size.get("height") or size.get("shortest_edge")
    if crop_edge:
        scale = frame_size / crop_edge
        if "shortest_edge" in size:
            taken["size"] = {"shortest_edge": round(size["shortest_edge"] * scale)}
        elif "height" in size and "width" in size:
            taken["size"] = {"height": round(size["height"] * scale), "width": round(size["width"] * scale)}
    return taken


def _as_size_dict(size):
    """A processor's `size`/`crop_size` as a dict (older processors saved a bare int for a square)."""
    if isinstance(size, int):
        return {"height": size, "width": size}
    return dict(size or {})


MSQNetVideoProcessor.register_for_auto_class("AutoVideoProcessor")

__all__ = ["MSQNetVideoProcessor"]
