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


class MSQNetDataCollator:
    """
    Stacks the examples of [`~modeling_msqnet.data.MSQNetVideoTransform`] into a batch, dropping those whose video
    could not be decoded.

    Dropped examples are appended to `collator.skipped` (dicts with `video` and `error`) in the process the collator
    runs in. A `DataLoader` with `num_workers > 0` runs it in worker processes, out of the training loop's reach, so
    every batch also carries its own dropped examples under `"skipped"` (with `return_skipped=True`): pop that key
    before calling the model and collect it; with `num_workers=0`, `collator.skipped` holds the same entries.

    Returns (per call):
        - `{"pixel_values": (B, T, 3, H, W) float, "labels": (B, K) float32 or (B,) int64, "skipped": [...]}`;
        - when every example of the batch failed, `{"skipped": [...]}` with no `pixel_values` (skip the step), or
          `None` with `return_skipped=False`.

    Args:
        return_skipped (`bool`, *optional*, defaults to `True`):
            Whether batches carry their dropped examples under `"skipped"`.

    Example:

    ```python
    >>> collator, skipped = MSQNetDataCollator(), []
    >>> for batch in torch.utils.data.DataLoader(dataset, batch_size=8, collate_fn=collator, num_workers=4):
    ...     skipped.extend(batch.pop("skipped"))
    ...     if "pixel_values" not in batch:
    ...         continue  # every video of this batch failed
    ...     loss = model(**batch).loss
    >>> print(f"{len(skipped)} videos skipped: {skipped}")
    ```
    """

    def __init__(self, return_skipped: bool = True):
        self.return_skipped = return_skipped
        self.skipped: list[dict] = []

    @property
    def num_skipped(self) -> int:
        """Number of examples dropped so far (as recorded in this process)."""
        return len(self.skipped)

    def reset(self):
        """Forget the dropped examples recorded so far."""
        self.skipped = []

    def __call__(self, features: list[dict]) -> dict | None:
        kept, skipped = [], []
        for feature in features:
            error = feature.get("decoding_error")
            if error is None and feature.get("pixel_values") is None:
                error = "the example has no pixel_values"
            if error is not None:
                skipped.append({"video": feature.get("video"), "error": error})
            else:
                kept.append(feature)
        self.skipped.extend(skipped)
        if skipped:
            logger.info(f"Dropped {len(skipped)} of the {len(features)} examples of a batch (unreadable videos).")

        batch = {}
        if kept:
            batch["pixel_values"] = torch.stack([torch.as_tensor(feature["pixel_values"]) for feature in kept])
            batch["labels"] = torch.stack([torch.as_tensor(feature["labels"]) for feature in kept])
        elif not self.return_skipped:
            return None
        if self.return_skipped:
            batch["skipped"] = skipped
        return batch


class FixedSizeCollator:
    """
    Batches examples like [`MSQNetDataCollator`] but keeps every example in place: an unreadable video gets zero
    `pixel_values` and `valid=False`. Every process then runs the same number of forward passes on batches of the
    sizes the sampler planned, which distributed training (DDP/FSDP collectives) and `gather_for_metrics` (its
    removal of the samples duplicated to even out the last batch) rely on. The loss leaves the invalid rows out
    (`weights=batch["valid"]` of [`~modeling_msqnet.hub_code.modeling_msqnet.classification_loss`]).

    Returns: `{"pixel_values": (B, T, 3, H, W), "labels": (B, K) or (B,), "valid": (B,) bool, "index": (B,) int64,
    "skipped": [{"video", "index", "error"}, ...]}`.
    """

    def __init__(self, pixel_shape: tuple[int, ...]):
        self.pixel_shape = tuple(pixel_shape)
        self.collator = MSQNetDataCollator(return_skipped=True)

    def __call__(self, features: list[dict]) -> dict:
        kept = self.collator(features)
        self.collator.reset()  # the batches carry their own skipped examples
        valid = torch.tensor(
            [feature.get("decoding_error") is None and feature.get("pixel_values") is not None for feature in features]
        )
        pixel_values = torch.zeros((len(features), *self.pixel_shape), dtype=torch.float32)
        if valid.any():
            pixel_values[valid] = kept["pixel_values"].to(pixel_values.dtype)
        skipped = [
            {"video": feature.get("video"), "index": int(feature["index"]), "error": feature.get("decoding_error")}
            for feature, ok in zip(features, valid.tolist())
            if not ok
        ]
        return {
            "pixel_values": pixel_values,
            "labels": torch.stack([torch.as_tensor(feature["labels"]) for feature in features]),
            "valid": valid,
            "index": torch.tensor([int(feature["index"]) for feature in features], dtype=torch.int64),
            "skipped": skipped,
        }
