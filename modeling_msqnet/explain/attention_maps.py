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
"""Per-label spatio-temporal attention maps of MSQNet (the paper's Figure 3).

A label's map follows the path its logit takes back to the pixels:

1. the label's decoder state: decoder self-attention (labels mix) and cross-attention (labels read the frame tokens),
   layer by layer;
2. the transformer encoder's self-attention over the frame tokens;
3. the frame pooling, a fixed linear map over the video encoder's whole token sequence (its weights are read off
   `pool_frame_tokens` itself, so the "official" pooling's frame tokens, which mix CLS and neighbouring patch tokens of
   TimeSformer's patch-major order, are followed exactly);
4. the video encoder's self-attention, block by block (TimeSformer: temporal then spatial attention; VideoMAE, ViViT
   and V-JEPA 2: joint attention over tubelets; per-frame image encoders (CLIP, SigLIP, DINOv2): attention within each
   frame, a block-diagonal matrix over the clip's tokens).

Two ways to turn attention into relevance:

- `"rollout"` (Abnar & Zuidema, 2020): heads averaged, each attention `A` replaced by `0.5 * (I + A)` for the residual
  connection, and the products taken; every row of the result stays a probability distribution.
- `"gradient"` (Chefer et al., 2021): each attention replaced by `I + mean_heads(relu(A * dlogit/dA))`, with the
  gradient of the explained label's logit, so the map is label-specific all the way to the pixels.

The label-agnostic comparison (the paper's "bare backbone" row) is the video encoder's own rollout from its CLS token
(TimeSformer, ViViT), from the frames' CLS tokens (CLIP, DINOv2), or from the mean of its tokens (VideoMAE, V-JEPA 2,
SigLIP, which have no CLS token). Image encoders run per frame need `image_frame_tokens="patch"`.

Layer norms, the feed-forward blocks and the linear maps applied to every token alike move no information between
tokens and are not followed, as in both papers.
"""

import contextlib
import sys
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F
from transformers.utils import logging

from ..hub_code.backbones_msqnet import video_backbone, video_backbone_class
from ..hub_code.configuration_msqnet import ordered_label_names
from ..hub_code.modeling_msqnet import scores_from_logits


logger = logging.get_logger(__name__)

METHODS = ("rollout", "gradient")


@dataclass
class VideoTokenLayout:
    """
    Where the video encoder's tokens sit: TimeSformer is CLS then patch-major (`1 + patch * num_frames + frame`);
    the others are time-major over time slots (tubelets, or frames), `prefix + slot * (slot_prefix + P) + slot_prefix +
    patch` with a leading CLS (ViViT) or none (VideoMAE, V-JEPA 2), and per-frame image encoders repeat their CLS at
    the start of each frame (`num_prefix_tokens_per_slot`: CLIP, DINOv2).
    """

    model_type: str
    num_frames: int
    grid_height: int
    grid_width: int
    tubelet_size: int = 1
    num_prefix_tokens_per_slot: int = 0

    @property
    def num_prefix_tokens(self) -> int:
        return video_backbone_class(self.model_type).num_prefix_tokens

    @property
    def has_cls_token(self) -> bool:
        return self.num_prefix_tokens > 0

    @property
    def patch_major(self) -> bool:
        return video_backbone_class(self.model_type).patch_major

    @property
    def per_frame(self) -> bool:
        return video_backbone_class(self.model_type).per_frame

    @property
    def num_patches(self) -> int:
        return self.grid_height * self.grid_width

    @property
    def num_time_slots(self) -> int:
        return self.num_frames // self.tubelet_size

    @property
    def num_tokens(self) -> int:
        return self.num_prefix_tokens + (self.num_prefix_tokens_per_slot + self.num_patches) * self.num_time_slots

    def patch_token_index(self) -> torch.Tensor:
        """`(num_patches, num_time_slots)` index of each patch's token in each frame (or tubelet slot)."""
        patches = torch.arange(self.num_patches)
        slots = torch.arange(self.num_time_slots)
        if self.patch_major:
            return self.num_prefix_tokens + patches[:, None] * self.num_time_slots + slots[None, :]
        slot_length = self.num_prefix_tokens_per_slot + self.num_patches
        return (
            self.num_prefix_tokens + slots[None, :] * slot_length + self.num_prefix_tokens_per_slot + patches[:, None]
        )

    def slot_cls_token_index(self) -> torch.Tensor:
        """Index of each time slot's own CLS token (per-frame image encoders with one), else empty."""
        if not self.num_prefix_tokens_per_slot:
            return torch.zeros(0, dtype=torch.long)
        slot_length = self.num_prefix_tokens_per_slot + self.num_patches
        return self.num_prefix_tokens + torch.arange(self.num_time_slots) * slot_length

    def to_frames(self, relevance: torch.Tensor) -> torch.Tensor:
        """Token relevance `(..., num_tokens)` as patch grids `(..., num_frames, grid_height, grid_width)`."""
        index = self.patch_token_index()  # (P, S)
        grids = relevance[..., index].movedim(-1, -2)  # (..., S, P)
        grids = grids.reshape(*relevance.shape[:-1], self.num_time_slots, self.grid_height, self.grid_width)
        return grids.repeat_interleave(self.tubelet_size, dim=-3)


@dataclass
class AttentionRecord:
    """
    Everything one forward pass of one video gives the maps: the logits and every attention on the way.

    `video_attentions` holds one dict per video encoder block: TimeSformer `{"temporal": (P, heads, T, T),
    "spatial": (T, heads, 1 + P, 1 + P)}`, VideoMAE, ViViT and V-JEPA 2 `{"joint": (1, heads, N, N)}`, per-frame image
    encoders `{"frames": (T, heads, N / T, N / T)}`. `encoder_attentions` are
    `(1, heads, F, F)`, `decoder_attentions` `(1, heads, K, K)`, `cross_attentions` `(1, heads, K, F)`; `pooling` is
    the frame pooling's `(F, N)` matrix. They are the model's own output tensors (batch of one), so with
    `with_gradients=True` their autograd graph reaches the logits.
    """

    logits: torch.Tensor
    video_attentions: list[dict[str, torch.Tensor]]
    encoder_attentions: list[torch.Tensor]
    decoder_attentions: list[torch.Tensor]
    cross_attentions: list[torch.Tensor]
    pooling: torch.Tensor
    layout: VideoTokenLayout
    label_names: list[str]
    problem_type: str | None = None
    video_last_hidden_state: torch.Tensor | None = None
    frame_tokens: torch.Tensor | None = None

    def attention_tensors(self) -> list[torch.Tensor]:
        """All attention tensors, in a fixed order (see [`AttentionRecord.with_tensors`])."""
        tensors = [block[key] for block in self.video_attentions for key in sorted(block)]
        return tensors + self.encoder_attentions + self.decoder_attentions + self.cross_attentions

    def with_tensors(self, tensors: list[torch.Tensor]) -> "AttentionRecord":
        """A copy whose attention tensors are `tensors` (same order as `attention_tensors`), e.g. their gradients."""
        tensors = list(tensors)
        video = [{key: tensors.pop(0) for key in sorted(block)} for block in self.video_attentions]
        num_encoder, num_decoder = len(self.encoder_attentions), len(self.decoder_attentions)
        encoder, decoder = tensors[:num_encoder], tensors[num_encoder : num_encoder + num_decoder]
        cross = tensors[num_encoder + num_decoder :]
        return AttentionRecord(
            logits=self.logits,
            video_attentions=video,
            encoder_attentions=encoder,
            decoder_attentions=decoder,
            cross_attentions=cross,
            pooling=self.pooling,
            layout=self.layout,
            label_names=self.label_names,
            problem_type=self.problem_type,
        )

    def probabilities(self) -> torch.Tensor:
        """Sigmoid scores (multi-label) or softmax (single-label), `(num_labels,)`."""
        return scores_from_logits(self.logits.detach().float(), self.problem_type)


@dataclass
class VideoExplanation:
    """
    Attention maps of one video. `label_maps[name]` and `backbone_map` are `(num_frames, height, width)` float32
    arrays in [0, 1] at the processor's crop size; `frames` the `(num_frames, height, width, 3)` uint8 crops the model
    saw (when known); `probabilities` the scores of the explained labels; `backbone_name` what `backbone_map` is.
    """

    label_maps: dict[str, np.ndarray]
    backbone_map: np.ndarray
    probabilities: dict[str, float]
    method: str
    frames: np.ndarray | None = None
    backbone_name: str = "backbone rollout"


def _base_model(model):
    """The `MSQNetModel` inside a classification model (duck-typed: remote-code classes are not ours)."""
    base = getattr(model, "msqnet", model)
    for name in ("video_model", "encoder", "decoder", "frame_projection"):
        if not hasattr(base, name):
            raise TypeError(f"{type(model).__name__} is not an MSQNet model: it has no `{name}`.")
    return base


def _pool_frame_tokens_function(base):
    """`pool_frame_tokens` of the module the model's class comes from (its own copy for remote code)."""
    module = sys.modules.get(type(base).__module__)
    function = getattr(module, "pool_frame_tokens", None)
    if function is None:
        from ..hub_code.modeling_msqnet import pool_frame_tokens as function
    return function


def pooling_matrix(model, num_tokens: int, num_frames: int) -> torch.Tensor:
    """
    The frame pooling as a `(num_frame_tokens, num_tokens)` matrix: row `f` holds the weight of each video encoder
    token in frame token `f`. Read off the model's own `pool_frame_tokens` applied to the identity, so it is exact for
    every pooling the function implements.
    """
    base = _base_model(model)
    config = base.config
    identity = torch.eye(num_tokens, dtype=torch.float64)[None]
    backbone = getattr(base, "video_backbone", None)
    if backbone is not None:  # the model's own adapter (also remote code's copy)
        return backbone.pool_frame_tokens(identity, num_frames, config.frame_pooling)[0].float()
    pooled = _pool_frame_tokens_function(base)(
        identity,
        num_frames,
        config.frame_pooling,
        config.video_config.model_type,
        getattr(config.video_config, "tubelet_size", 1),
    )
    return pooled[0].float()


def token_layout(model, pixel_values: torch.Tensor) -> VideoTokenLayout:
    msqnet_config = _base_model(model).config
    backbone = video_backbone(msqnet_config)
    if not backbone.exposes_attentions:
        raise ValueError(
            f"Attention maps need a video encoder that returns attention weights, not {backbone.model_type!r}."
        )
    if backbone.per_frame and getattr(msqnet_config, "image_frame_tokens", "patch") != "patch":
        raise ValueError(
            f"Attention maps of a per-frame image encoder ({backbone.model_type}) follow its patch tokens; this model "
            f"uses `image_frame_tokens={msqnet_config.image_frame_tokens!r}` (one pooled token per frame)."
        )
    config = msqnet_config.video_config
    num_frames, _, height, width = pixel_values.shape[1:]
    patch_size = config.tubelet_size[1] if backbone.model_type == "vivit" else config.patch_size
    tubelet_size = backbone.time_slot_size
    if height % patch_size or width % patch_size or num_frames % tubelet_size:
        raise ValueError(
            f"`pixel_values` of {num_frames} frames of {height}x{width} do not tile into {patch_size}x{patch_size} "
            f"patches and tubelets of {tubelet_size} frames."
        )
    return VideoTokenLayout(
        backbone.model_type,
        num_frames,
        height // patch_size,
        width // patch_size,
        tubelet_size,
        num_prefix_tokens_per_slot=backbone.num_prefix_tokens_per_slot,
    )


@contextlib.contextmanager
def _attention_recording(base):
    """
    Makes the video encoder return attention weights: the transformers attention families switch to eager attention
    (SDPA returns none), and TimeSformer's temporal attentions, which `output_attentions` does not return, are collected from their modules.
    Everything is restored on exit.
    """
    video_model = base.video_model
    temporal, handles, previous = [], [], None
    if base.config.video_config.model_type != "timesformer":
        previous = video_model.config._attn_implementation
        if previous != "eager":
            video_model.set_attn_implementation("eager")
    else:
        for layer in video_model.encoder.layer:
            module = getattr(layer, "temporal_attention", None)
            if module is None:
                continue

            def ask_for_weights(module, args, kwargs):
                return args, {**kwargs, "output_attentions": True}

            def keep_weights(module, args, kwargs, outputs):
                temporal.append(outputs[1])
                return outputs[:1]

            handles.append(module.register_forward_pre_hook(ask_for_weights, with_kwargs=True))
            handles.append(module.register_forward_hook(keep_weights, with_kwargs=True))
    try:
        yield temporal
    finally:
        for handle in handles:
            handle.remove()
        if previous is not None and previous != "eager":
            video_model.set_attn_implementation(previous)


def record_attentions(model, pixel_values: torch.Tensor, with_gradients: bool = False) -> AttentionRecord:
    """
    Run `model` (an MSQNet classification model, also one loaded with `trust_remote_code`) on one video and record its
    logits and all attention weights (see [`AttentionRecord`]).

    Args:
        pixel_values (`torch.FloatTensor` of shape `(1, num_frames, 3, height, width)`):
            One processed video.
        with_gradients (`bool`, *optional*, defaults to `False`):
            Keep the autograd graph, for [`attention_gradients`].
    """
    if pixel_values.dim() != 5 or pixel_values.shape[0] != 1:
        raise ValueError(
            f"`pixel_values` must be one video of shape (1, num_frames, 3, height, width), got {tuple(pixel_values.shape)}."
        )
    if not hasattr(model, "classifier"):
        raise TypeError(f"{type(model).__name__} has no classification head: load it as a video classification model.")
    base = _base_model(model)
    layout = token_layout(model, pixel_values)
    captured = {}

    def keep_video_tokens(module, args, outputs):
        captured["video"] = outputs.last_hidden_state

    def keep_frame_tokens(module, args):
        captured["frames"] = args[0]

    hooks = [
        base.video_model.register_forward_hook(keep_video_tokens),
        base.frame_projection.register_forward_pre_hook(keep_frame_tokens),
    ]
    pixel_values = pixel_values.detach().clone().requires_grad_(with_gradients)
    was_training = model.training
    model.eval()
    try:
        with _attention_recording(base) as temporal, torch.set_grad_enabled(with_gradients):
            outputs = model(pixel_values=pixel_values, output_attentions=True, return_dict=True)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)

    spatial = list(outputs.video_attentions or ())
    if not spatial or any(attention is None for attention in spatial):
        raise RuntimeError("The video encoder returned no attention weights, even with eager attention.")
    if layout.model_type == "timesformer":
        if len(temporal) != len(spatial):
            raise RuntimeError(
                f"Recorded {len(temporal)} temporal and {len(spatial)} spatial attentions; the TimeSformer must use "
                "divided space-time attention."
            )
        video_attentions = [{"temporal": t, "spatial": s} for t, s in zip(temporal, spatial)]
    elif layout.per_frame:
        video_attentions = [{"frames": attention} for attention in spatial]
    else:
        video_attentions = [{"joint": attention} for attention in spatial]
    if not outputs.cross_attentions:
        raise RuntimeError(f"{type(model).__name__} returned no decoder cross-attention weights.")
    if layout.per_frame:  # the image encoder's tokens of each frame, as the clip's frame-major sequence
        captured["video"] = captured["video"].reshape(1, -1, captured["video"].shape[-1])
    num_tokens = captured["video"].shape[1]
    if num_tokens != layout.num_tokens:
        raise RuntimeError(f"The video encoder has {num_tokens} tokens, expected {layout.num_tokens} for {layout}.")
    config = base.config
    return AttentionRecord(
        logits=outputs.logits[0],
        video_attentions=video_attentions,
        encoder_attentions=list(outputs.encoder_attentions),
        decoder_attentions=list(outputs.decoder_attentions),
        cross_attentions=list(outputs.cross_attentions),
        pooling=pooling_matrix(model, num_tokens, layout.num_frames),
        layout=layout,
        label_names=ordered_label_names(config.id2label),
        problem_type=config.problem_type,
        video_last_hidden_state=captured["video"][0].detach(),
        frame_tokens=captured["frames"][0].detach(),
    )


def attention_gradients(record: AttentionRecord, label_index: int) -> AttentionRecord:
    """The gradients of label `label_index`'s logit with respect to every attention of `record` (zeros where none)."""
    tensors = record.attention_tensors()
    wanted = [i for i, tensor in enumerate(tensors) if tensor.requires_grad]
    if not wanted:
        raise RuntimeError("The attentions carry no autograd graph: record them with `with_gradients=True`.")
    found = torch.autograd.grad(
        record.logits[label_index], [tensors[i] for i in wanted], retain_graph=True, allow_unused=True
    )
    gradients = [torch.zeros_like(tensor) for tensor in tensors]
    for i, gradient in zip(wanted, found):
        if gradient is not None:
            gradients[i] = gradient
    return record.with_tensors(gradients)


def reduce_heads(attention: torch.Tensor, gradient: torch.Tensor | None = None) -> torch.Tensor:
    """Heads averaged, `(..., heads, q, k)` -> `(..., q, k)`: of `A` (rollout) or of `relu(A * dA)` (gradient)."""
    attention = attention.detach().float()
    if gradient is None:
        return attention.mean(dim=-3)
    return (attention * gradient.detach().float()).clamp(min=0).mean(dim=-3)


def residual_matrix(reduced: torch.Tensor, method: str) -> torch.Tensor:
    """`0.5 * (I + A)` (rollout, rows stay normalised) or `I + A` (gradient) for a square `(n, n)` matrix."""
    identity = torch.eye(reduced.shape[-1], dtype=reduced.dtype)
    return 0.5 * (identity + reduced) if method == "rollout" else identity + reduced


def timesformer_temporal_matrix(reduced: torch.Tensor, layout: VideoTokenLayout, method: str) -> torch.Tensor:
    """
    TimeSformer's temporal attention `(P, T, T)` (each patch over its own frames) as a token matrix `(N, N)`. The CLS
    token takes no part: it keeps itself (rollout) or gains no relevance (gradient).
    """
    matrix = torch.zeros(layout.num_tokens, layout.num_tokens, dtype=reduced.dtype)
    index = layout.patch_token_index()
    matrix[index[:, :, None], index[:, None, :]] = reduced
    if method == "rollout":
        matrix[0, 0] = 1.0
    return matrix


def timesformer_spatial_matrix(reduced: torch.Tensor, layout: VideoTokenLayout) -> torch.Tensor:
    """
    TimeSformer's spatial attention `(T, 1 + P, 1 + P)` (per frame, over a copy of CLS and that frame's patches) as a
    token matrix `(N, N)`. The CLS token's update is the mean of its per-frame updates, so its row is too.
    """
    num_frames = layout.num_time_slots
    matrix = torch.zeros(layout.num_tokens, layout.num_tokens, dtype=reduced.dtype)
    local_to_global = torch.cat(
        [torch.zeros(num_frames, 1, dtype=torch.long), layout.patch_token_index().T], dim=1
    )  # (T, 1 + P)
    matrix[local_to_global[:, 1:, None], local_to_global[:, None, :]] = reduced[:, 1:, :]
    matrix[0].index_add_(0, local_to_global.flatten(), (reduced[:, 0, :] / num_frames).flatten())
    return matrix


def video_matrices(record: AttentionRecord, method: str, gradients: AttentionRecord | None = None) -> list:
    """The video encoder's attention steps as `(N, N)` residual token matrices, in forward order."""
    layout, matrices = record.layout, []
    for index, block in enumerate(record.video_attentions):
        grads = gradients.video_attentions[index] if gradients is not None else {}
        if "joint" in block:
            matrices.append(residual_matrix(reduce_heads(block["joint"], grads.get("joint"))[0], method))
            continue
        if "frames" in block:
            reduced = reduce_heads(block["frames"], grads.get("frames"))
            matrices.append(residual_matrix(torch.block_diag(*reduced), method))
            continue
        temporal = timesformer_temporal_matrix(reduce_heads(block["temporal"], grads.get("temporal")), layout, method)
        spatial = timesformer_spatial_matrix(reduce_heads(block["spatial"], grads.get("spatial")), layout)
        matrices += [residual_matrix(temporal, method), residual_matrix(spatial, method)]
    return matrices


def roll_out(matrices: list[torch.Tensor], rows: torch.Tensor | None = None) -> torch.Tensor:
    """
    The rollout `rows @ M_L @ ... @ M_1` of per-layer token matrices given in forward order: row `i` of the result is
    how much each input token feeds output row `i`. `rows` defaults to the identity (the full rollout matrix).
    """
    if rows is None:
        rows = torch.eye(matrices[-1].shape[0], dtype=matrices[-1].dtype)
    for matrix in reversed(matrices):
        rows = rows @ matrix
    return rows


def decoder_relevance(
    self_attentions: list[torch.Tensor], cross_attentions: list[torch.Tensor], memory: torch.Tensor, method: str
) -> torch.Tensor:
    """
    Relevance of the label queries `(K, K)` and of the encoder's input frame tokens `(K, F)` for each label's final
    decoder state.

    Each decoder layer: self-attention mixes the labels' rows (`0.5 * (I + A)` or `I + A`), then cross-attention adds the
    frame tokens the label reads (`memory`, `(F, F)`: the encoder's rollout) to its residual. With rollout, the rows
    over [label queries | frame tokens] stay normalised.
    """
    weight = 0.5 if method == "rollout" else 1.0
    num_labels = cross_attentions[0].shape[0]
    query_part = torch.eye(num_labels, dtype=memory.dtype)
    frame_part = torch.zeros(num_labels, memory.shape[0], dtype=memory.dtype)
    for self_attention, cross_attention in zip(self_attentions, cross_attentions):
        mixing = residual_matrix(self_attention, method)
        query_part, frame_part = mixing @ query_part, mixing @ frame_part
        query_part = weight * query_part
        frame_part = weight * frame_part + weight * (cross_attention @ memory)
    return query_part, frame_part


def _frame_relevance(record: AttentionRecord, method: str, gradients: AttentionRecord | None) -> torch.Tensor:
    """`(K, F)` relevance of the pooled frame tokens for every label (of one label's gradient for `gradient`)."""

    def grad(kind, index):
        return getattr(gradients, kind)[index] if gradients is not None else None

    memory = roll_out(
        [
            residual_matrix(reduce_heads(attention, grad("encoder_attentions", i))[0], method)
            for i, attention in enumerate(record.encoder_attentions)
        ]
    )
    _, frame_relevance = decoder_relevance(
        [reduce_heads(a, grad("decoder_attentions", i))[0] for i, a in enumerate(record.decoder_attentions)],
        [reduce_heads(a, grad("cross_attentions", i))[0] for i, a in enumerate(record.cross_attentions)],
        memory,
        method,
    )
    return frame_relevance


def token_relevance(record: AttentionRecord, label_indices: list[int], method: str = "rollout") -> torch.Tensor:
    """
    Relevance `(len(label_indices), N)` of the video encoder's input tokens (CLS included) for each label's logit.
    """
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}, got {method!r}.")
    if method == "rollout":
        frame_relevance = _frame_relevance(record, method, None)[label_indices]
        return roll_out(video_matrices(record, method), frame_relevance @ record.pooling)
    rows = []
    for label_index in label_indices:
        gradients = attention_gradients(record, label_index)
        frame_relevance = _frame_relevance(record, method, gradients)[label_index : label_index + 1]
        rows.append(roll_out(video_matrices(record, method, gradients), frame_relevance @ record.pooling))
    return torch.cat(rows)


def backbone_relevance(record: AttentionRecord) -> torch.Tensor:
    """
    The bare video encoder's rollout `(N,)`: from its CLS token (TimeSformer, ViViT), the mean of the frames' CLS
    tokens (CLIP, DINOv2 per frame), or the mean of its tokens (VideoMAE, V-JEPA 2, SigLIP).
    """
    num_tokens = record.layout.num_tokens
    slot_cls = record.layout.slot_cls_token_index()
    if record.layout.has_cls_token:
        start = torch.zeros(1, num_tokens)
        start[0, 0] = 1.0
    elif len(slot_cls):
        start = torch.zeros(1, num_tokens)
        start[0, slot_cls] = 1.0 / len(slot_cls)
    else:
        start = torch.full((1, num_tokens), 1.0 / num_tokens)
    return roll_out(video_matrices(record, "rollout"), start)[0]


def relevance_to_maps(relevance: torch.Tensor, layout: VideoTokenLayout, size: tuple[int, int]) -> np.ndarray:
    """
    Token relevance `(..., N)` as pixel maps `(..., num_frames, height, width)` in [0, 1]: the CLS column dropped, patch
    grids upsampled bilinearly to `size`, each map min-max normalised over all its frames.
    """
    grids = layout.to_frames(relevance.float())
    leading = grids.shape[:-3]
    grids = grids.reshape(-1, 1, grids.shape[-2], grids.shape[-1])
    maps = F.interpolate(grids, size=size, mode="bilinear", align_corners=False)
    maps = maps.reshape(*leading, layout.num_frames, *size)
    flat = maps.reshape(*leading, -1)
    low, high = flat.min(dim=-1, keepdim=True).values, flat.max(dim=-1, keepdim=True).values
    flat = torch.where(high > low, (flat - low) / (high - low).clamp(min=1e-12), torch.zeros_like(flat))
    return flat.reshape(maps.shape).clamp(0.0, 1.0).numpy().astype(np.float32)


def select_labels(record: AttentionRecord, labels: list[str] | None = None, top_k: int = 5) -> list[int]:
    """Indices of `labels` (names the model knows), or of the `top_k` most probable labels."""
    if labels:
        unknown = [label for label in labels if label not in record.label_names]
        if unknown:
            raise ValueError(f"Unknown labels {unknown}; the model's labels are {record.label_names}.")
        return [record.label_names.index(label) for label in labels]
    if top_k < 1:
        raise ValueError(f"`top_k` must be >= 1, got {top_k}.")
    return record.probabilities().argsort(descending=True)[:top_k].tolist()


def explain_pixel_values(
    model, pixel_values: torch.Tensor, labels: list[str] | None = None, top_k: int = 5, method: str = "rollout"
) -> VideoExplanation:
    """
    Per-label attention maps of one processed video.

    Args:
        model: an MSQNet video classification model (any of its video encoders; also loaded with
            `trust_remote_code`).
        pixel_values (`torch.FloatTensor` of shape `(1, num_frames, 3, height, width)`):
            The video, as the model's video processor returns it.
        labels (`list[str]`, *optional*):
            Label names to explain; defaults to the `top_k` most probable labels.
        method (`str`, *optional*, defaults to `"rollout"`):
            `"rollout"` or `"gradient"` (see the module docstring).

    Returns:
        [`VideoExplanation`] (without `frames`).
    """
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}, got {method!r}.")
    record = record_attentions(model, pixel_values, with_gradients=method == "gradient")
    label_indices = select_labels(record, labels, top_k)
    size = tuple(pixel_values.shape[-2:])
    label_maps = relevance_to_maps(token_relevance(record, label_indices, method), record.layout, size)
    backbone_map = relevance_to_maps(backbone_relevance(record), record.layout, size)
    probabilities = record.probabilities()
    names = [record.label_names[i] for i in label_indices]
    return VideoExplanation(
        label_maps=dict(zip(names, label_maps)),
        backbone_map=backbone_map,
        probabilities={name: float(probabilities[i]) for name, i in zip(names, label_indices)},
        method=method,
        backbone_name=(
            "backbone (CLS rollout)"
            if record.layout.has_cls_token or record.layout.num_prefix_tokens_per_slot
            else "backbone (mean-token rollout)"
        ),
    )


def frames_from_pixel_values(pixel_values: torch.Tensor, video_processor) -> np.ndarray:
    """The crops the model saw, `(num_frames, height, width, 3)` uint8, with the processor's normalisation undone."""
    frames = pixel_values[0].detach().float().permute(0, 2, 3, 1)
    if getattr(video_processor, "do_normalize", False):
        frames = frames * torch.tensor(video_processor.image_std) + torch.tensor(video_processor.image_mean)
    scale = 255.0 if getattr(video_processor, "do_rescale", True) else 1.0
    return (frames * scale).round().clamp(0, 255).to(torch.uint8).numpy()


def explain_video(
    model, video_processor, video, labels: list[str] | None = None, top_k: int = 5, method: str = "rollout"
) -> VideoExplanation:
    """
    [`explain_pixel_values`] for a video file, frame folder or frame array, processed with `video_processor`; the
    result carries the crops the model saw as `frames`.
    """
    num_frames = _base_model(model).config.num_frames
    pixel_values = video_processor(video, num_frames=num_frames, return_tensors="pt")["pixel_values"]
    explanation = explain_pixel_values(model, pixel_values, labels=labels, top_k=top_k, method=method)
    explanation.frames = frames_from_pixel_values(pixel_values, video_processor)
    return explanation


__all__ = [
    "AttentionRecord",
    "METHODS",
    "VideoExplanation",
    "VideoTokenLayout",
    "attention_gradients",
    "backbone_relevance",
    "decoder_relevance",
    "explain_pixel_values",
    "explain_video",
    "frames_from_pixel_values",
    "pooling_matrix",
    "record_attentions",
    "relevance_to_maps",
    "roll_out",
    "select_labels",
    "timesformer_spatial_matrix",
    "timesformer_temporal_matrix",
    "token_relevance",
    "video_matrices",
]
