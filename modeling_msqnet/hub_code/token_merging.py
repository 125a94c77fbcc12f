"""Token merging between TimeSformer layers (fast path): fewer patch positions in the later layers, same outputs' shape.

TimeSformer's divided space-time attention needs the same patches in every frame, so what is merged is a patch
*position* (its tokens in all frames at once): after each chosen layer, the positions are split in two alternating
sets and the `merge_per_layer` positions of the first set most similar to one of the second (cosine similarity of
their tokens over all frames) are averaged into it, weighted by how many original positions each already holds
(bipartite soft matching, as in "Token Merging: Your ViT But Faster", Bolya et al., 2023). The later layers run on
the remaining positions. After the last layer every original position takes the token of the position it was merged
into, so the encoder's output has the shape (and the token layout) of the exact model and the frame pooling after it
is unchanged.
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

    def pick(values, index):
        return values.gather(
            1, index.view(*index.shape, *([1] * (values.dim() - 2))).expand(-1, -1, *values.shape[2:])
        )

    source_tokens, target_tokens = patch_tokens[:, 0::2], patch_tokens[:, 1::2]
    source_sizes, target_sizes = sizes[:, 0::2], sizes[:, 1::2]
    merged_into = best_target.gather(1, merged_sources)
    weights = pick(source_sizes, merged_sources).to(patch_tokens.dtype)
    target_sums = (target_tokens * target_sizes[..., None, None].to(patch_tokens.dtype)).scatter_add(
        1,
        merged_into.view(batch_size, num_merged, 1, 1).expand(-1, -1, num_frames, hidden_size),
        pick(source_tokens, merged_sources) * weights[..., None, None],
    )
    target_sizes = target_sizes.scatter_add(1, merged_into, pick(source_sizes, merged_sources))
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
    tokens = torch.cat([pick(source_tokens, kept_sources), target_tokens], dim=1)
    return tokens, torch.cat([pick(source_sizes, kept_sources), target_sizes], dim=1), new_index


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
    that merges `merge_per_layer` patch positions after every layer from `start_layer` on (see the module doc).
    `merge_per_layer` must be a multiple of the patch grid's width (TimeSformer reshapes the positions of a frame into
    rows of that width). When attention weights are asked for, nothing is merged: the maps need every token.
    """

    def __init__(self, encoder: nn.Module, merge_per_layer: int, start_layer: int = 0):
        super().__init__()
        self.config = encoder.config
        self.layer = encoder.layer
        self.gradient_checkpointing = getattr(encoder, "gradient_checkpointing", False)
        self.merge_per_layer = merge_per_layer
        self.start_layer = start_layer
        grid_width = self.config.image_size // self.config.patch_size
        num_positions = grid_width**2
        num_merges = max(0, len(self.layer) - 1 - start_layer)
        if merge_per_layer < 1 or merge_per_layer % grid_width:
            raise ValueError(
                f"`video_token_merge_per_layer` must be a positive multiple of the patch grid width ({grid_width}), "
                f"got {merge_per_layer}."
            )
        for step in range(num_merges):
            remaining = num_positions - step * merge_per_layer
            if merge_per_layer > remaining // 2 or remaining - merge_per_layer < grid_width:
                raise ValueError(
                    f"`video_token_merge_per_layer`={merge_per_layer} from layer {start_layer} leaves too few of the "
                    f"{num_positions} patch positions (each step merges at most half of them, and one row must stay)."
                )

    def forward(self, hidden_states, output_attentions=False, output_hidden_states=False, return_dict=True):
        num_frames = self.config.num_frames
        batch_size, sequence_length, hidden_size = hidden_states.shape
        num_positions = (sequence_length - 1) // num_frames
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
            elif self.start_layer <= index < len(self.layer) - 1:
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


def use_timesformer_token_merging(video_model, merge_per_layer: int, start_layer: int = 0):
    """Swap a transformers `TimesformerModel`'s encoder for [`MSQNetTokenMergingTimesformerEncoder`] (same weights)."""
    video_model.encoder = MSQNetTokenMergingTimesformerEncoder(video_model.encoder, merge_per_layer, start_layer)
