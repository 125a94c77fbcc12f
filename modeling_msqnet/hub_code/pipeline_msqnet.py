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
"""Zero-shot video classification pipeline for MSQNet: score label names given at call time."""

import threading
from collections import OrderedDict
from typing import Any

from transformers.pipelines import Pipeline
from transformers.utils import logging

from .configuration_msqnet import MULTI_LABEL_CLASSIFICATION, SINGLE_LABEL_CLASSIFICATION
from .modeling_msqnet import scores_from_logits


logger = logging.get_logger(__name__)

FUNCTIONS_TO_APPLY = ("sigmoid", "softmax", "none")
# `function_to_apply` as the problem type whose scores it gives (`scores_from_logits`); "none" keeps the logits.
FUNCTION_PROBLEM_TYPES = {"sigmoid": MULTI_LABEL_CLASSIFICATION, "softmax": SINGLE_LABEL_CLASSIFICATION}


class MSQNetZeroShotVideoClassificationPipeline(Pipeline):
    """
    Zero-shot video classification with MSQNet: predicts which of the `candidate_labels` a video shows, for label names
    the model may never have been trained on. Modelled on `ZeroShotImageClassificationPipeline` (same argument names
    and output format). Needs an MSQNet with the shared head (`classifier_head="shared"`) that keeps its text
    encoder; `label_query_mode="text_derived"` models embed trained and new names with the same function. A model
    with a per-class head scores only the labels it was trained on. The candidate labels are inputs of each call (the
    model is never changed), so one pipeline serves many threads at once.

    Scores are sigmoids of the logits for multi-label models (`problem_type="multi_label_classification"`), a softmax
    over the candidate labels for single-label ones.

    Example:

    ```python
    >>> from transformers import pipeline

    >>> classifier = pipeline("zero-shot-video-classification", model="path/to/msqnet", trust_remote_code=True)
    >>> classifier("video.mp4", candidate_labels=["a dog is running", "a cat is sleeping"], hypothesis_template="{}")
    [{'score': 0.91, 'label': 'a dog is running'}, {'score': 0.07, 'label': 'a cat is sleeping'}]
    ```

    This pipeline can be loaded from [`pipeline`] with the task identifier `"zero-shot-video-classification"`: from a
    saved folder with `trust_remote_code=True` (its config registers the pipeline), or with the `modeling_msqnet`
    package imported, which registers it locally.
    """

    _load_processor = False
    _load_image_processor = False
    _load_video_processor = True
    _load_feature_extractor = False
    _load_tokenizer = True

    # Candidate label sets whose label inputs are kept (least recently used first out).
    label_inputs_cache_size = 64

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._label_inputs_cache = OrderedDict()
        self._label_inputs_lock = threading.Lock()
        if self.video_processor is None:
            raise ValueError("The zero-shot-video-classification pipeline needs the model's video processor.")
        if self.tokenizer is None:
            raise ValueError(
                "The zero-shot-video-classification pipeline needs the tokenizer of the model's text encoder "
                "(saved next to the model by `MSQNetProcessor`)."
            )

    def __call__(self, videos, candidate_labels: list[str] | None = None, **kwargs: Any):
        """
        Assign the candidate labels to the video(s).

        Args:
            videos (`str`, `list[str]`, `np.ndarray`, `torch.Tensor` or a list of those):
                One video (a path to a video file or frame folder, or frames `(num_frames, height, width, channels)`)
                or a list of videos.
            candidate_labels (`list[str]`):
                The label names to score, formatted with `hypothesis_template`.
            hypothesis_template (`str`, *optional*, defaults to `"{}"`):
                Format of the text embedded for each candidate label; `"{}"` embeds the names as they are (MSQNet's
                label queries are trained on bare class names).
            function_to_apply (`str`, *optional*):
                `"sigmoid"` (default for multi-label models), `"softmax"` (default for single-label ones) or `"none"`.
            num_frames (`int`, *optional*):
                Frames sampled per video (defaults to the video processor's).
            tokenizer_kwargs (`dict`, *optional*):
                Extra arguments of the tokenizer call.

        Return:
            For one video, a list of `{"label", "score"}` dicts, one per candidate label, sorted by decreasing score;
            for a list of videos, one such list per video.
        """
        if "video" in kwargs:
            videos = kwargs.pop("video")
        if videos is None:
            raise ValueError("Cannot call the zero-shot-video-classification pipeline without a video.")
        if not candidate_labels or not all(isinstance(label, str) and label for label in candidate_labels):
            raise ValueError("`candidate_labels` must be a non-empty list of label names (strings).")
        return super().__call__(videos, candidate_labels=list(candidate_labels), **kwargs)

    def _sanitize_parameters(
        self,
        candidate_labels=None,
        hypothesis_template=None,
        function_to_apply=None,
        num_frames=None,
        tokenizer_kwargs=None,
        **kwargs,
    ):
        preprocess_params, forward_params, postprocess_params = {}, {}, {}
        if num_frames is not None:
            preprocess_params["num_frames"] = num_frames
        if candidate_labels is not None:
            forward_params["candidate_labels"] = candidate_labels
            postprocess_params["candidate_labels"] = candidate_labels
        if hypothesis_template is not None:
            if "{}" not in hypothesis_template:
                raise ValueError(f"`hypothesis_template` must contain '{{}}', got {hypothesis_template!r}.")
            forward_params["hypothesis_template"] = hypothesis_template
        if tokenizer_kwargs is not None:
            forward_params["tokenizer_kwargs"] = tokenizer_kwargs
        if function_to_apply is not None:
            if function_to_apply not in FUNCTIONS_TO_APPLY:
                raise ValueError(
                    f"`function_to_apply` must be one of {FUNCTIONS_TO_APPLY}, got {function_to_apply!r}."
                )
            postprocess_params["function_to_apply"] = function_to_apply
        return preprocess_params, forward_params, postprocess_params

    def preprocess(self, video, num_frames=None):
        processing_kwargs = {"num_frames": num_frames} if num_frames is not None else {}
        pixel_values = self.video_processor(video, return_tensors="pt", **processing_kwargs)["pixel_values"]
        # Not `pixel_values`: transformers' batch collation pads that key with the padding value of a feature
        # extractor or image processor, and a video model has neither; equal-sized frames are stacked as they are.
        return {"video_pixel_values": pixel_values.to(self.dtype)}

    def _forward(self, model_inputs, candidate_labels=None, hypothesis_template="{}", tokenizer_kwargs=None):
        if candidate_labels is None:
            raise ValueError("`candidate_labels` is required.")
        texts = [hypothesis_template.format(label) for label in candidate_labels]
        label_embeds, columns = self.label_inputs(texts, tokenizer_kwargs)
        logits = self.model(pixel_values=model_inputs["video_pixel_values"], label_embeds=label_embeds).logits
        return {"logits": logits if columns is None else logits[:, columns]}

    def label_inputs(self, texts, tokenizer_kwargs=None):
        """
        The model's inputs for the label `texts` (see `MSQNetForVideoClassification.label_inputs_for_names`), from a
        bounded cache shared by the threads that call this pipeline: repeated candidate sets embed their texts once.
        """
        key = (tuple(texts), tuple(sorted((tokenizer_kwargs or {}).items())))
        with self._label_inputs_lock:
            if key in self._label_inputs_cache:
                self._label_inputs_cache.move_to_end(key)
                return self._label_inputs_cache[key]
            # Computed under the lock: a fast tokenizer's padding and truncation settings are not safe across threads.
            tokenizer = _TokenizerWithKwargs(self.tokenizer, tokenizer_kwargs) if tokenizer_kwargs else self.tokenizer
            label_inputs = self.model.label_inputs_for_names(texts, tokenizer=tokenizer)
            self._label_inputs_cache[key] = label_inputs
            if len(self._label_inputs_cache) > self.label_inputs_cache_size:
                self._label_inputs_cache.popitem(last=False)
            return label_inputs

    def postprocess(self, model_outputs, candidate_labels=None, function_to_apply=None):
        logits = model_outputs["logits"][0].float()
        if function_to_apply is None:
            scores = scores_from_logits(logits, self.model.config.problem_type)
        elif function_to_apply in FUNCTION_PROBLEM_TYPES:
            scores = scores_from_logits(logits, FUNCTION_PROBLEM_TYPES[function_to_apply])
        else:
            scores = logits
        ranked = sorted(zip(scores.tolist(), candidate_labels), key=lambda pair: -pair[0])
        return [{"score": score, "label": label} for score, label in ranked]


class _TokenizerWithKwargs:
    """A tokenizer whose calls get extra keyword arguments (`tokenizer_kwargs` of the pipeline call)."""

    def __init__(self, tokenizer, kwargs):
        self.tokenizer, self.kwargs = tokenizer, dict(kwargs)

    def __call__(self, *args, **kwargs):
        return self.tokenizer(*args, **{**kwargs, **self.kwargs})


__all__ = ["MSQNetZeroShotVideoClassificationPipeline"]
