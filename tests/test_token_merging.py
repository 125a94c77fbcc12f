"""Fewer TimeSformer tokens. Token merging (`video_token_merge_per_layer`): one merging step is a size-weighted average
that loses nothing when positions repeat, the model keeps its parameter names and output shapes, runs fewer FLOPs,
falls back to every token when attention maps are asked for, and bad settings are clear errors. Static positions
(`video_static_patch_threshold`): the change measure, whole rows left out, left-out positions take their most similar
kept position's token, moving clips computed exactly, a still background skips the layers, each clip independent of
its batch, round trip and errors."""

import pytest
import torch
from tiny_models import tiny_config
from torch.utils.flop_counter import FlopCounterMode

from modeling_msqnet import MSQNetForVideoClassification
from modeling_msqnet.hub_code.token_merging import (
    drop_static_positions,
    merge_patch_positions,
    patch_position_change,
    unmerge_patch_positions,
)


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


# Static patch positions (`video_static_patch_threshold`): a fixed camera's background is left out of the encoder.


def moving_square_clip(num_frames=4, rows=(0,)):
    """A static random background (32x32, 8-pixel patches: a 4x4 grid) with a bright square moving along `rows`."""
    generator = torch.Generator().manual_seed(3)
    clip = torch.randn(1, 1, 3, 32, 32, generator=generator).repeat(1, num_frames, 1, 1, 1)
    for frame in range(num_frames):
        for row in rows:
            clip[0, frame, :, row * 8 : row * 8 + 8, frame * 8 : frame * 8 + 8] = 3.0
    return clip


def test_patch_position_change_is_the_largest_mean_difference_from_the_first_frame():
    clip = torch.zeros(1, 3, 3, 16, 16)
    clip[0, 2, 0, :8, 8:] = 3.0  # one channel of the top-right patch, in the last frame
    clip[0, 1, :, 8:, :8] = -0.5  # every channel of the bottom-left patch, in the middle frame
    change = patch_position_change(clip, patch_size=8)
    torch.testing.assert_close(change, torch.tensor([[0.0, 1.0, 0.5, 0.0]]))


def test_static_positions_are_dropped_in_whole_rows_and_map_to_their_most_similar_kept_position():
    tokens = torch.randn(2, 8, 3, 4)  # (batch, positions, frames, hidden): a grid 2 wide, 4 tall
    tokens[:, 6] = tokens[:, 1]  # position 6 is a copy of position 1
    change = torch.ones(2, 8)
    change[0, [3, 6]], change[0, 0] = 0.0, 0.05  # clip 0: 3 static positions, 3 and 6 the most static
    change[1, [2, 3, 4, 6, 7]] = 0.0  # clip 1: 5
    kept, sizes, position_of = drop_static_positions(tokens, change, threshold=0.1, grid_width=2, min_kept=2)
    assert kept.shape == (2, 6, 3, 4)  # 3 static in clip 0: one whole row (2) left out of both clips
    assert sizes.sum(dim=1).tolist() == [8, 8]
    assert position_of[0, 6] == position_of[0, 1]  # left out, takes its copy's token
    hidden_states = torch.cat([torch.zeros(2, 1, 4), kept.flatten(1, 2)], dim=1)
    restored = unmerge_patch_positions(hidden_states, position_of, num_frames=3)[:, 1:].reshape(2, 8, 3, 4)
    for position in (0, 1, 2, 4, 5, 7):  # kept: their own tokens
        torch.testing.assert_close(restored[0, position], tokens[0, position])
    torch.testing.assert_close(restored[0, 6], tokens[0, 1])


def test_static_positions_keep_at_least_min_kept():
    kept, _, position_of = drop_static_positions(
        torch.randn(1, 8, 3, 4), torch.zeros(1, 8), threshold=0.0, grid_width=2, min_kept=4
    )
    assert kept.shape[1] == 4 and position_of.max() == 3


@pytest.fixture(scope="module")
def static_models():
    torch.manual_seed(0)
    exact = MSQNetForVideoClassification(tiny_config()).eval()
    dropping = MSQNetForVideoClassification(tiny_config(video_static_patch_threshold=0.05)).eval()
    dropping.load_state_dict(exact.state_dict())
    return exact, dropping


def test_moving_frames_are_computed_exactly(static_models):
    exact, dropping = static_models
    pixel_values = torch.randn(2, 4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(dropping(pixel_values).logits, exact(pixel_values).logits, atol=1e-6, rtol=0)


def test_static_background_is_left_out_with_the_same_output_shapes(static_models):
    exact, dropping = static_models
    clip = moving_square_clip()  # the square moves along the top row: 12 of 16 positions are static
    outputs, video_encoder_flops = [], []
    for model in static_models:
        with torch.no_grad():
            outputs.append(model(clip, output_hidden_states=True))
            with FlopCounterMode(display=False) as counter:
                model.msqnet.video_backbone.encode(model.msqnet.video_model, clip)
        video_encoder_flops.append(counter.get_total_flops())
    assert [h.shape for h in outputs[1].video_hidden_states] == [h.shape for h in outputs[0].video_hidden_states]
    assert outputs[1].logits.shape == outputs[0].logits.shape and torch.isfinite(outputs[1].logits).all()
    assert video_encoder_flops[1] < 0.5 * video_encoder_flops[0]
    lengths = []
    hook = dropping.msqnet.video_model.encoder.layer[0].register_forward_pre_hook(
        lambda module, args: lengths.append(args[0].shape[1])
    )
    with torch.no_grad():
        dropping(clip)
    hook.remove()
    assert lengths == [1 + 4 * 4]  # CLS + the top row's 4 positions in 4 frames
    with torch.no_grad():  # attention maps need every token: the exact model's output
        maps = dropping(clip, output_attentions=True)
        torch.testing.assert_close(maps.logits, exact(clip, output_attentions=True).logits, atol=1e-6, rtol=0)


def test_each_clip_leaves_out_its_own_static_positions_whatever_its_batch(static_models):
    _, dropping = static_models
    batch = torch.cat([moving_square_clip(rows=(0,)), moving_square_clip(rows=(0, 2)), torch.randn(1, 4, 3, 32, 32)])
    with torch.no_grad():
        together = dropping(batch, output_hidden_states=True)
        alone = [dropping(clip[None], output_hidden_states=True) for clip in batch]
    torch.testing.assert_close(together.logits, torch.cat([output.logits for output in alone]), atol=1e-5, rtol=0)
    for layer, states in enumerate(together.video_hidden_states):
        expected = torch.cat([output.video_hidden_states[layer] for output in alone])
        torch.testing.assert_close(states, expected, atol=1e-5, rtol=0)


def test_static_patch_threshold_round_trips_and_turns_on_at_load(tmp_path, static_models):
    exact, dropping = static_models
    dropping.save_pretrained(tmp_path / "dropping")
    exact.save_pretrained(tmp_path / "exact")
    reloaded = MSQNetForVideoClassification.from_pretrained(tmp_path / "dropping").eval()
    turned_on = MSQNetForVideoClassification.from_pretrained(
        tmp_path / "exact", video_static_patch_threshold=0.05
    ).eval()
    assert reloaded.config.video_static_patch_threshold == turned_on.config.video_static_patch_threshold == 0.05
    clip = moving_square_clip()
    with torch.no_grad():
        expected = dropping(clip).logits
        torch.testing.assert_close(reloaded(clip).logits, expected)
        torch.testing.assert_close(turned_on(clip).logits, expected)


@pytest.mark.parametrize("threshold", [-0.1, "0.1"])
def test_bad_static_patch_threshold_is_an_error(threshold):
    with pytest.raises(ValueError, match="video_static_patch_threshold"):
        tiny_config(video_static_patch_threshold=threshold)


def test_static_patches_need_timesformer():
    from tiny_models import VIDEOMAE_CONFIG

    with pytest.raises(ValueError, match="TimeSformer"):
        tiny_config(video_config=VIDEOMAE_CONFIG, video_static_patch_threshold=0.1)


def test_static_positions_and_merging_together():
    model = MSQNetForVideoClassification(tiny_config(video_token_merge_per_layer=4, video_static_patch_threshold=0.05))
    encoder = model.msqnet.video_model.encoder
    assert encoder.min_kept_positions == 8  # one merging step of 4 needs 8 positions: half merged, a row left
    with torch.no_grad():
        logits = model.eval()(moving_square_clip()).logits
    assert logits.shape == (1, model.config.num_labels) and torch.isfinite(logits).all()
