"""TimeSformer token merging (`video_token_merge_per_layer`): one merging step is a size-weighted average that loses
nothing when positions repeat, the model keeps its parameter names and output shapes, runs fewer FLOPs, falls back to
every token when attention maps are asked for, and bad settings are clear errors."""

import pytest
import torch
from tiny_models import tiny_config
from torch.utils.flop_counter import FlopCounterMode

from modeling_msqnet import MSQNetForVideoClassification
from modeling_msqnet.hub_code.token_merging import merge_patch_positions, unmerge_patch_positions


def test_merging_repeated_positions_loses_nothing():
    tokens = torch.randn(2, 8, 3, 4)  # (batch, positions, frames, hidden)
    tokens[:, 1] = tokens[:, 0]  # sources are the even positions, targets the odd ones
    tokens[:, 5] = tokens[:, 4]
    merged, sizes, position_of = merge_patch_positions(tokens, torch.ones(2, 8, dtype=torch.long), 2)
    assert merged.shape == (2, 6, 3, 4) and sizes.sum(dim=1).tolist() == [8, 8]
    assert position_of[:, 0].tolist() == position_of[:, 1].tolist()
    hidden_states = torch.cat([torch.zeros(2, 1, 4), merged.flatten(1, 2)], dim=1)
    restored = unmerge_patch_positions(hidden_states, position_of, num_frames=3)
    torch.testing.assert_close(restored[:, 1:].reshape(2, 8, 3, 4), tokens)


def test_merged_token_is_the_size_weighted_mean():
    tokens = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [-1.0, 5.0]]).view(1, 4, 1, 2)
    sizes = torch.tensor([[3, 1, 1, 1]])
    merged, new_sizes, position_of = merge_patch_positions(tokens, sizes, 1)
    target = position_of[0, 0]
    assert position_of[0, 1] == target and new_sizes[0, target] == 4
    torch.testing.assert_close(merged[0, target, 0], (3 * tokens[0, 0, 0] + tokens[0, 1, 0]) / 4)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    exact = MSQNetForVideoClassification(tiny_config()).eval()
    merged = MSQNetForVideoClassification(tiny_config(video_token_merge_per_layer=4)).eval()
    assert list(merged.state_dict()) == list(exact.state_dict())
    merged.load_state_dict(exact.state_dict())
    return exact, merged


def test_merging_keeps_output_shapes_and_cuts_flops(models):
    exact, merged = models
    pixel_values = torch.randn(2, exact.config.num_frames, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    flops = []
    for model in models:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            outputs = model(pixel_values, output_hidden_states=True)
        flops.append(counter.get_total_flops())
        assert outputs.logits.shape == (2, exact.config.num_labels) and torch.isfinite(outputs.logits).all()
        assert [tuple(h.shape) for h in outputs.video_hidden_states] == [(2, 1 + 16 * 4, 32)] * 3
    assert flops[1] < flops[0]


def test_attention_maps_use_every_token(models):
    exact, merged = models
    pixel_values = torch.randn(1, exact.config.num_frames, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = exact(pixel_values, output_attentions=True)
        outputs = merged(pixel_values, output_attentions=True)
    torch.testing.assert_close(outputs.logits, expected.logits, atol=1e-5, rtol=0)
    assert [a.shape for a in outputs.video_attentions] == [a.shape for a in expected.video_attentions]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(video_token_merge_per_layer=3), "multiple of the patch grid width"),
        (dict(video_token_merge_per_layer=12), "too few"),
        (dict(video_token_merge_per_layer=4, video_token_merge_start_layer=5), "layer index"),
    ],
)
def test_bad_merge_settings_are_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        MSQNetForVideoClassification(tiny_config(**overrides))


def test_merging_needs_timesformer():
    from tiny_models import VIDEOMAE_CONFIG

    with pytest.raises(ValueError, match="TimeSformer"):
        tiny_config(video_config=VIDEOMAE_CONFIG, video_token_merge_per_layer=4)
