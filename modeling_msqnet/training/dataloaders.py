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
"""The data loaders of training and evaluation: manifest rows decoded on the fly into fixed-size batches.

Both loaders draw from their own seeded generators, never from the global RNG, which exact resume relies on.
"""

import torch

from ..data import FixedSizeCollator, MSQNetVideoTransform


class IndexedTransform:
    """
    Wraps an [`MSQNetVideoTransform`] so that each example also carries its manifest row (`index`), which identifies
    skipped videos after gathering across processes. `set_epoch` is passed on to the wrapped transform.
    """

    def __init__(self, transform: MSQNetVideoTransform):
        self.transform = transform

    def set_epoch(self, epoch: int):
        self.transform.set_epoch(epoch)

    def __call__(self, batch: dict) -> dict:
        outputs = self.transform(batch)
        outputs["index"] = list(batch["index"])
        return outputs


def pixel_shape(video_processor, num_frames: int) -> tuple[int, int, int, int]:
    """`(num_frames, 3, height, width)` of one example's `pixel_values` for a video processor."""
    crop = video_processor.crop_size
    return (int(num_frames), 3, int(crop["height"]), int(crop["width"]))


def build_dataloader(
    dataset, transform, video_processor, config, batch_size: int, *, shuffle: bool, num_workers=0, seed=0
):
    """A `DataLoader` of a manifest dataset with `transform` and fixed-size batches ([`FixedSizeCollator`])."""
    dataset.set_transform(IndexedTransform(transform))
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=FixedSizeCollator(pixel_shape(video_processor, config.num_frames)),
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
    )


def build_eval_dataloader(
    dataset, video_processor, config, batch_size: int, num_workers: int = 0, seed: int = 0, num_labels=None
):
    """
    The evaluation `DataLoader` of a manifest dataset: test-time sampling and processing, fixed-size batches; targets
    over the config's labels, or over `num_labels` labels given to the model's forward.
    """
    transform = MSQNetVideoTransform.from_config(
        video_processor, config, train=False, seed=seed, num_labels=num_labels
    )
    return build_dataloader(
        dataset, transform, video_processor, config, batch_size, shuffle=False, num_workers=num_workers, seed=seed
    )


__all__ = ["IndexedTransform", "build_dataloader", "build_eval_dataloader", "pixel_shape"]
