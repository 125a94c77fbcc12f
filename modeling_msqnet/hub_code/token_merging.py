"""Fewer TimeSformer tokens (fast paths): static patch positions left out, and token merging between layers.

TimeSformer's divided space-time attention needs the same patches in every frame, so what is merged is a patch
*position* (its tokens in all frames at once): after each chosen layer, the positions are split in two alternating
sets and the `merge_per_layer` positions of the first set most similar to one of the second (cosine similarity of
their tokens over all frames) are averaged into it, weighted by how many original positions each already holds
(bipartite soft matching, as in "Token Merging: Your ViT But Faster", Bolya et al., 2023). The later layers run on
the remaining positions. After the last layer every original position takes the token of the position it was merged
into, so the encoder's output has the shape (and the token layout) of the exact model and the frame pooling after it
is unchanged.

Static positions (a fixed camera's background): before the first layer, the positions whose pixels change by at most a
threshold over the clip are left out of every layer, and each takes, at the end, the output token of the kept position
most similar to it (the same cosine similarity of its embedded tokens over all frames); it is merged, without
averaging, into that position. The number left out is rounded down to whole rows of the patch grid (TimeSformer's
layers reshape the positions into rows). Each clip of a batch runs on its own, so it leaves out its own static
positions and its outputs do not depend on the other clips of the batch.
"""

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput


def merge_patch_positions(patch_tokens, sizes, num_merged):
    """
    One merging step. `patch_tokens` `(batch, positions, frames, hidden)`, `sizes` `(batch, positions)` (original
    positions each one holds). Returns the merged tokens and sizes (`positions - num_merged` positions) and, per old
    position, the index of the new position that holds it `(batch, positions)`.
    """
    batch_size, num_positions, num_frames, hidden_size = patch_tokens.shape
    features = nn.functional.normalize(patch_tokens.flatten(2).float(), dim=-1)
    sources, targets = features[:, 0::2], features[:, 1::2]
    best_score, best_target = (sources @ targets.transpose(1, 2)).max(dim=-1)
    order = best_score.argsort(dim=-1, descending=True)
    merged_sources, kept_sources = order[:, :num_merged], order[:, num_merged:].sort(dim=-1).values
    num_kept, num_targets = kept_sources.shape[1], targets.shape[1]

    source_tokens, target_tokens = patch_tokens[:, 0::2], patch_tokens[:, 1::2]
    source_sizes, target_sizes = sizes[:, 0::2], sizes[:, 1::2]
    merged_into = best_target.gather(1, merged_sources)
    weights = _gather_positions(source_sizes, merged_sources).to(patch_tokens.dtype)
    target_sums = (target_tokens * target_sizes[..., None, None].to(patch_tokens.dtype)).scatter_add(
        1,
        merged_into.view(batch_size, num_merged, 1, 1).expand(-1, -1, num_frames, hidden_size),
        _gather_positions(source_tokens, merged_sources) * weights[..., None, None],
    )
    target_sizes = target_sizes.scatter_add(1, merged_into, _gather_positions(source_sizes, merged_sources))
    target_tokens = target_sums / target_sizes[..., None, None].to(patch_tokens.dtype)

    # Where each old position goes: kept sources first (in their order), then the targets.
    new_index = torch.empty(batch_size, num_positions, dtype=torch.long, device=patch_tokens.device)
    source_positions = torch.arange(0, num_positions, 2, device=patch_tokens.device).expand(batch_size, -1)
    arange_kept = torch.arange(num_kept, device=patch_tokens.device).expand(batch_size, -1)
    new_index.scatter_(1, source_positions.gather(1, kept_sources), arange_kept)
    new_index.scatter_(1, source_positions.gather(1, merged_sources), num_kept + merged_into)
    target_positions = torch.arange(1, num_positions, 2, device=patch_tokens.device).expand(batch_size, -1)
    new_index.scatter_(
        1, target_positions, num_kept + torch.arange(num_targets, device=patch_tokens.device).expand(batch_size, -1)
    )
    tokens = torch.cat([_gather_positions(source_tokens, kept_sources), target_tokens], dim=1)
    return tokens, torch.cat([_gather_positions(source_sizes, kept_sources), target_sizes], dim=1), new_index


def patch_position_change(pixel_values, patch_size):
    """
    How much each patch position changes over a clip: from `(batch, frames, channels, height, width)` frames, the
    largest (over frames) mean absolute difference between the position's pixels and the first frame's, in the
    frames' (normalised) units, `(batch, positions)` in raster order (TimeSformer's patch order).
    """
    frames = pixel_values.float()
    difference = (frames - frames[:, :1]).abs().mean(dim=2)
    batch_size, num_frames, height, width = difference.shape
    per_patch = difference.reshape(
        batch_size, num_frames, height // patch_size, patch_size, width // patch_size, patch_size
    ).mean(dim=(3, 5))
    return per_patch.amax(dim=1).flatten(1)


def num_static_positions_to_drop(change, threshold, grid_width, min_kept):
    """How many positions [`drop_static_positions`] leaves out of every clip of a batch with this `change`."""
    num_static = int((change <= threshold).sum(dim=1).min())
    return max(0, min(num_static // grid_width * grid_width, change.shape[1] - min_kept))


def drop_static_positions(patch_tokens, change, threshold, grid_width, min_kept):
    """
    Leave out the positions whose `change` `(batch, positions)` is at most `threshold`: as many per clip as the batch's
    least static clip has, rounded down to a multiple of `grid_width`, keeping at least `min_kept`. Returns the kept
    tokens `(batch, kept, frames, hidden)`, their sizes (the positions each one stands for) and, per original position,
    the kept position that holds it (its own, or the most similar one's for a left-out position).
    """
    batch_size, num_positions = change.shape
    num_dropped = num_static_positions_to_drop(change, threshold, grid_width, min_kept)
    device = patch_tokens.device
    if num_dropped <= 0:
        sizes = torch.ones(batch_size, num_positions, dtype=torch.long, device=device)
        return patch_tokens, sizes, torch.arange(num_positions, device=device).expand(batch_size, -1)
    order = change.argsort(dim=1, stable=True)
    dropped, kept = order[:, :num_dropped], order[:, num_dropped:].sort(dim=1).values
    features = nn.functional.normalize(patch_tokens.flatten(2).float(), dim=-1)
    similarity = _gather_positions(features, dropped) @ _gather_positions(features, kept).transpose(1, 2)
    nearest_kept = similarity.argmax(dim=-1)
    position_of = torch.empty(batch_size, num_positions, dtype=torch.long, device=device)
    position_of.scatter_(1, kept, torch.arange(kept.shape[1], device=device).expand(batch_size, -1))
    position_of.scatter_(1, dropped, nearest_kept)
    sizes = torch.ones_like(kept).scatter_add(1, nearest_kept, torch.ones_like(nearest_kept))
    return _gather_positions(patch_tokens, kept), sizes, position_of


def _gather_positions(values, index):
    """`values[b, index[b]]` for `(batch, positions, ...)` values and `(batch, n)` indices."""
    return values.gather(1, index.view(*index.shape, *([1] * (values.dim() - 2))).expand(-1, -1, *values.shape[2:]))


def unmerge_patch_positions(hidden_states, position_of, num_frames):
    """`(batch, 1 + positions * frames, hidden)` back to every original position (CLS first, patch-major)."""
    batch_size, _, hidden_size = hidden_states.shape
    patch_tokens = hidden_states[:, 1:].reshape(batch_size, -1, num_frames, hidden_size)
    index = position_of.view(batch_size, -1, 1, 1).expand(-1, -1, num_frames, hidden_size)
    full = patch_tokens.gather(1, index).reshape(batch_size, -1, hidden_size)
    return torch.cat([hidden_states[:, :1], full], dim=1)


class MSQNetTokenMergingTimesformerEncoder(nn.Module):
    """
    TimeSformer's encoder (transformers' `TimesformerEncoder`: the same `layer` list, so the same parameter names)
    that leaves static patch positions out when given their `patch_change` and `static_patch_threshold` is set, and
    merges `merge_per_layer` patch positions after every layer from `start_layer` on (see the module doc).
    `merge_per_layer` must be a multiple of the patch grid's width (TimeSformer reshapes the positions of a frame into
    rows of that width). When attention weights are asked for, nothing is left out or merged: the maps need every
    token.
    """

    def __init__(self, encoder: nn.Module, merge_per_layer=None, start_layer: int = 0, static_patch_threshold=None):
        super().__init__()
        self.config = encoder.config
        self.layer = encoder.layer
        self.gradient_checkpointing = getattr(encoder, "gradient_checkpointing", False)
        self.merge_per_layer = merge_per_layer or 0
        self.start_layer = start_layer
        self.static_patch_threshold = static_patch_threshold
        self.grid_width = self.config.image_size // self.config.patch_size
        num_positions = self.grid_width**2
        if merge_per_layer is not None and (merge_per_layer < 1 or merge_per_layer % self.grid_width):
            raise ValueError(
                "`video_token_merge_per_layer` must be a positive multiple of the patch grid width "
                f"({self.grid_width}), got {merge_per_layer}."
            )
        self.min_kept_positions = self._min_positions_for_merging()
        if self.min_kept_positions > num_positions:
            raise ValueError(
                f"`video_token_merge_per_layer`={merge_per_layer} from layer {start_layer} leaves too few of the "
                f"{num_positions} patch positions (each step merges at most half of them, and one row must stay)."
            )

    @property
    def num_merges(self):
        return max(0, len(self.layer) - 1 - self.start_layer) if self.merge_per_layer else 0

    def _min_positions_for_merging(self):
        """The fewest positions (whole rows) every merging step can start from: half at most merged, one row left."""
        merged = self.merge_per_layer
        num_positions = self.grid_width
        while any(
            merged > (num_positions - step * merged) // 2 or num_positions - (step + 1) * merged < self.grid_width
            for step in range(self.num_merges)
        ):
            num_positions += self.grid_width
        return num_positions

    def forward(
        self, hidden_states, output_attentions=False, output_hidden_states=False, return_dict=True, patch_change=None
    ):
        num_frames = self.config.num_frames
        batch_size, sequence_length, hidden_size = hidden_states.shape
        patch_tokens = hidden_states[:, 1:].reshape(batch_size, -1, num_frames, hidden_size)
        if patch_change is not None and self.static_patch_threshold is not None and not output_attentions:
            patch_tokens, sizes, position_of = drop_static_positions(
                patch_tokens, patch_change, self.static_patch_threshold, self.grid_width, self.min_kept_positions
            )
            hidden_states = torch.cat([hidden_states[:, :1], patch_tokens.flatten(1, 2)], dim=1)
        else:
            num_positions = patch_tokens.shape[1]
            position_of = torch.arange(num_positions, device=hidden_states.device).expand(batch_size, -1)
            sizes = torch.ones(batch_size, num_positions, dtype=torch.long, device=hidden_states.device)
        all_hidden_states = () if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for index, layer in enumerate(self.layer):
            if output_hidden_states:
                all_hidden_states += (unmerge_patch_positions(hidden_states, position_of, num_frames),)
            layer_outputs = layer(hidden_states, output_attentions)
            hidden_states = layer_outputs[0]
            if output_attentions:
                all_attentions += (layer_outputs[1],)
            elif self.merge_per_layer and self.start_layer <= index < len(self.layer) - 1:
                patch_tokens = hidden_states[:, 1:].reshape(batch_size, -1, num_frames, hidden_size)
                patch_tokens, sizes, new_index = merge_patch_positions(patch_tokens, sizes, self.merge_per_layer)
                position_of = new_index.gather(1, position_of)
                hidden_states = torch.cat([hidden_states[:, :1], patch_tokens.flatten(1, 2)], dim=1)
        hidden_states = unmerge_patch_positions(hidden_states, position_of, num_frames)
        if output_hidden_states:
            all_hidden_states += (hidden_states,)
        if not return_dict:
            return tuple(value for value in (hidden_states, all_hidden_states, all_attentions) if value is not None)
        return BaseModelOutput(
            last_hidden_state=hidden_states, hidden_states=all_hidden_states, attentions=all_attentions
        )


def use_timesformer_token_merging(video_model, merge_per_layer=None, start_layer=0, static_patch_threshold=None):
    """Swap a transformers `TimesformerModel`'s encoder for [`MSQNetTokenMergingTimesformerEncoder`] (same weights)."""
    video_model.encoder = MSQNetTokenMergingTimesformerEncoder(
        video_model.encoder, merge_per_layer, start_layer, static_patch_threshold
    )


def encode_without_static_patches(video_model, pixel_values, output_hidden_states=False):
    """
    Run a `TimesformerModel` whose encoder is [`MSQNetTokenMergingTimesformerEncoder`] as its own forward does
    (embeddings, encoder, final layer norm), giving the encoder how much each patch position changes. Each clip runs
    on its own: it leaves out its own static positions, whatever the other clips of the batch.
    """
    outputs = [
        _encode_clip_without_static_patches(video_model, clip[None], output_hidden_states) for clip in pixel_values
    ]
    hidden_states = None
    if output_hidden_states:
        hidden_states = tuple(
            torch.cat(layer_states) for layer_states in zip(*(output.hidden_states for output in outputs))
        )
    return BaseModelOutput(
        last_hidden_state=torch.cat([output.last_hidden_state for output in outputs]), hidden_states=hidden_states
    )


def _encode_clip_without_static_patches(video_model, pixel_values, output_hidden_states):
    embedding_output = video_model.embeddings(pixel_values)
    encoder_outputs = video_model.encoder(
        embedding_output,
        output_hidden_states=output_hidden_states,
        patch_change=patch_position_change(pixel_values, video_model.config.patch_size),
    )
    sequence_output = encoder_outputs.last_hidden_state
    if video_model.layernorm is not None:
        sequence_output = video_model.layernorm(sequence_output)
    return BaseModelOutput(last_hidden_state=sequence_output, hidden_states=encoder_outputs.hidden_states)
