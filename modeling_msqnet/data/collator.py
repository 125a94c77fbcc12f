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
"""Batching of [`MSQNetVideoTransform`] outputs, leaving out or masking (and keeping account of) videos that could not
be read."""

import torch
from transformers.utils import logging


logger = logging.get_logger(__name__)


class FixedSizeCollator:
    """
    Stacks the examples of [`~modeling_msqnet.data.MSQNetVideoTransform`] (with their manifest row, `index`) into a
    batch that keeps every example in place: an unreadable video gets zero `pixel_values` and `valid=False`, and is
    listed under `"skipped"` (the batch carries its own, so that they reach the training loop also from worker
    processes). Every process then runs the same number of forward passes on batches of the
    sizes the sampler planned, which distributed training (DDP/FSDP collectives) and `gather_for_metrics` (its
    removal of the samples duplicated to even out the last batch) rely on. The loss leaves the invalid rows out
    (`weights=batch["valid"]` of [`~modeling_msqnet.hub_code.modeling_msqnet.classification_loss`]).

    Returns: `{"pixel_values": (B, T, 3, H, W), "labels": (B, K) or (B,), "valid": (B,) bool, "index": (B,) int64,
    "skipped": [{"video", "index", "error"}, ...]}`.
    """

    def __init__(self, pixel_shape: tuple[int, ...]):
        self.pixel_shape = tuple(pixel_shape)

    def __call__(self, features: list[dict]) -> dict:
        valid = torch.tensor(
            [feature.get("decoding_error") is None and feature.get("pixel_values") is not None for feature in features]
        )
        pixel_values = torch.zeros((len(features), *self.pixel_shape), dtype=torch.float32)
        if valid.any():
            kept = [torch.as_tensor(feature["pixel_values"]) for feature, ok in zip(features, valid.tolist()) if ok]
            pixel_values[valid] = torch.stack(kept).to(pixel_values.dtype)
        skipped = [
            {"video": feature.get("video"), "index": int(feature["index"]), "error": feature.get("decoding_error")}
            for feature, ok in zip(features, valid.tolist())
            if not ok
        ]
        if skipped:
            logger.info(f"Left out {len(skipped)} of the {len(features)} examples of a batch (unreadable videos).")
        return {
            "pixel_values": pixel_values,
            "labels": torch.stack([torch.as_tensor(feature["labels"]) for feature in features]),
            "valid": valid,
            "index": torch.tensor([int(feature["index"]) for feature in features], dtype=torch.int64),
            "skipped": skipped,
        }
