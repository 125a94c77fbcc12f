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
"""Processor class for MSQNet: video processor + tokenizer for the label names."""

from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessingKwargs, ProcessorMixin
from transformers.utils import logging


logger = logging.get_logger(__name__)


class MSQNetProcessorKwargs(ProcessingKwargs, total=False):
    # Label names are tokenized as one batch: pad them to the longest (and cut names longer than the text model's
    # context, which label names never are in practice). The model's forward takes `input_ids` and `attention_mask`.
    _defaults = {"text_kwargs": {"padding": True, "truncation": True, "return_token_type_ids": False}}


class MSQNetProcessor(ProcessorMixin):
    r"""
    Constructs an MSQNet processor which wraps an [`MSQNetVideoProcessor`] and a tokenizer (CLIP's for the paper's
    label embeddings; any tokenizer works, e.g. a BERT-style one for another text encoder) into a single processor.

    `processor(videos=..., text=[label names])` returns the video processor's `pixel_values` and the tokenizer's
    `input_ids` and `attention_mask` for the label names (each formatted with `hypothesis_template`), padded to the
    longest name (and truncated to the tokenizer's maximum length) by default: the inputs of
    `MSQNetForVideoClassification.forward`, which then scores those labels (as `XCLIPProcessor` feeds X-CLIP).

    Args:
        video_processor ([`MSQNetVideoProcessor`]):
            The video processor.
        tokenizer ([`PreTrainedTokenizerBase`]):
            The tokenizer for the label names.

    Example:

    ```python
    >>> processor = MSQNetProcessor(video_processor, tokenizer)
    >>> inputs = processor(videos="video.mp4", text=["eating", "walking"], return_tensors="pt")
    >>> sorted(inputs.keys())
    ['attention_mask', 'input_ids', 'pixel_values']
    >>> model(**inputs).logits.shape  # one column per label name
    torch.Size([1, 2])
    ```
    """

    valid_processor_kwargs = MSQNetProcessorKwargs

    def __init__(self, video_processor=None, tokenizer=None, **kwargs):
        super().__init__(video_processor, tokenizer, **kwargs)

    def __call__(self, videos=None, text=None, hypothesis_template: str = "{}", **kwargs) -> BatchFeature:
        """
        Prepare videos for the model with the video processor and tokenize label names with the tokenizer.

        Args:
            videos (`str`, `os.PathLike`, `np.ndarray`, `torch.Tensor` or a list of those, *optional*):
                Video file paths, frame folders or frame arrays (see [`MSQNetVideoProcessor`]).
            text (`str` or `list[str]`, *optional*):
                Label names to tokenize.
            hypothesis_template (`str`, *optional*, defaults to `"{}"`):
                Format of the text tokenized for each label name; `"{}"` keeps the names as they are (MSQNet's label
                queries are trained on bare class names).
            kwargs:
                Keyword arguments for the video processor (`num_frames`, ...) and the tokenizer (`padding`,
                `max_length`, ...), as flat keywords or in `videos_kwargs` / `text_kwargs`, and `return_tensors`.

        Returns:
            [`BatchFeature`]: `pixel_values` when `videos` is given; the tokenizer's outputs when `text` is given.
        """
        if videos is None and text is None:
            raise ValueError(f"{self.__class__.__name__} needs `videos`, `text` or both.")
        output_kwargs = self._merge_kwargs(
            MSQNetProcessorKwargs, tokenizer_init_kwargs=self.tokenizer.init_kwargs, **kwargs
        )
        data = {}
        if videos is not None:
            data.update(self.video_processor(videos, **output_kwargs["videos_kwargs"]))
        if text is not None:
            if not (
                isinstance(text, str) or (isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text))
            ):
                raise ValueError(f"`text` must be a label name or a list of label names (strings), got {text!r}.")
            if "{}" not in hypothesis_template:
                raise ValueError(f"`hypothesis_template` must contain '{{}}', got {hypothesis_template!r}.")
            names = [text] if isinstance(text, str) else list(text)
            texts = [hypothesis_template.format(name) for name in names]
            data.update(self.tokenizer(texts, **output_kwargs["text_kwargs"]))
        return_tensors = output_kwargs["text_kwargs"].get("return_tensors") or output_kwargs["videos_kwargs"].get(
            "return_tensors"
        )
        return BatchFeature(data=data, tensor_type=return_tensors)


MSQNetProcessor.register_for_auto_class("AutoProcessor")

__all__ = ["MSQNetProcessor"]
