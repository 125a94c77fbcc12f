"""The fast-path options change outputs only within their stated tolerances (tiny configs).

- `autocast_dtype="bfloat16"` (or an outer `torch.autocast`): logits within 0.05 of float32 (bfloat16 keeps 8 bits of
  mantissa; the tiny model is typically off by ~0.01), returned in float32;
- bfloat16 weights (`from_pretrained(..., dtype=torch.bfloat16)`): logits within 0.05 of float32;
- `query_num_frames=num_frames`: identical to the default; fewer frames: the video query is CLIP's mean over the
  evenly spaced subset, the video branch is unchanged;
- `video_attn_implementation="sdpa"`: same weights and state-dict keys, outputs within 1e-5 of transformers' eager
  TimeSformer attention;
- `torch.compile`: logits within 1e-5 of eager, in one graph;
- gradient checkpointing: same loss and the same gradient for every parameter.
"""

import pytest
import torch
from tiny_models import VIDEOMAE_CONFIG, MSQNetModelTester

from modeling_msqnet import MSQNetConfig, MSQNetForVideoClassification
from modeling_msqnet.hub_code.modeling_msqnet import MSQNetTimesformerSdpaSelfAttention


tester = MSQNetModelTester()
BATCH, FRAMES = tester.batch_size, tester.num_frames
BF16_TOLERANCE = 0.05
pixel_values = tester.prepare_pixel_values
build = tester.create_model


def max_abs_diff(a, b):
    return (a.float() - b.float()).abs().max().item()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(autocast_dtype="float64"), "autocast_dtype"),
        (dict(autocast_dtype=torch.bfloat16), "autocast_dtype"),
        (dict(video_attn_implementation="flash"), "video_attn_implementation"),
    ],
)
def test_config_rejects_bad_fast_path_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MSQNetConfig(**kwargs)


def test_fast_path_fields_round_trip_and_apply_on_load(tmp_path):
    model = build()
    model.save_pretrained(tmp_path)
    loaded = MSQNetForVideoClassification.from_pretrained(
        tmp_path, autocast_dtype="bfloat16", video_attn_implementation="sdpa", query_num_frames=2
    )
    assert (loaded.config.autocast_dtype, loaded.config.video_attn_implementation) == ("bfloat16", "sdpa")
    attention = loaded.msqnet.video_model.encoder.layer[0].attention.attention
    assert isinstance(attention, MSQNetTimesformerSdpaSelfAttention)
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert set(state) == set(loaded_state)
    for name, tensor in state.items():
        assert tensor.equal(loaded_state[name]), name
    loaded.save_pretrained(tmp_path / "again")
    assert MSQNetConfig.from_pretrained(tmp_path / "again").video_attn_implementation == "sdpa"


def test_bf16_autocast_logits_within_tolerance_and_float32():
    model = build()
    frames = pixel_values()
    with torch.no_grad():
        exact = model(frames).logits
        model.config.autocast_dtype = "bfloat16"
        fast = model(frames).logits
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model.config.autocast_dtype = None
            outer = model(frames).logits
    assert fast.dtype == torch.float32 and fast.shape == exact.shape
    # Non-vacuous: the computation really ran in bfloat16.
    assert 0 < max_abs_diff(fast, exact) < BF16_TOLERANCE
    assert torch.allclose(outer.float(), fast, atol=1e-6)


def test_bf16_autocast_training_step_gives_float32_loss_and_close_gradients():
    labels = torch.tensor([[1, 0, 1, 0, 0], [0, 0, 0, 0, 1]], dtype=torch.float)
    results = []
    for autocast_dtype in (None, "bfloat16"):
        model = build(seed=1, dropout=0.0, autocast_dtype=autocast_dtype).train()
        loss = model(pixel_values(), labels=labels).loss
        loss.backward()
        results.append((loss.detach(), model.classifier.weight.grad.clone(), model.msqnet.frame_projection.weight))
    (loss32, grad32, weight32), (loss16, grad16, weight16) = results
    assert loss16.dtype == torch.float32 and weight16.dtype == torch.float32 and weight16.grad.dtype == torch.float32
    assert abs(loss16.item() - loss32.item()) < BF16_TOLERANCE
    assert max_abs_diff(grad16, grad32) < BF16_TOLERANCE * grad32.abs().max().item()


def test_bf16_weights_accept_float32_frames(tmp_path):
    model = build()
    model.save_pretrained(tmp_path)
    half = MSQNetForVideoClassification.from_pretrained(tmp_path, dtype=torch.bfloat16).eval()
    assert half.msqnet.video_model.dtype == torch.bfloat16
    with torch.no_grad():
        exact = model(pixel_values()).logits
        fast = half(pixel_values()).logits
    assert fast.dtype == torch.bfloat16
    assert 0 < max_abs_diff(fast, exact) < BF16_TOLERANCE


def test_query_num_frames_equal_to_num_frames_is_identical():
    model = build()
    frames = pixel_values()
    with torch.no_grad():
        default = model(frames).logits
        at_call = model(frames, query_num_frames=FRAMES).logits
        model.config.query_num_frames = FRAMES
        in_config = model(frames).logits
        model.config.query_num_frames = 2
        subset = model(frames).logits
    assert default.equal(at_call) and default.equal(in_config)
    assert not torch.allclose(default, subset)


def test_query_num_frames_embeds_evenly_spaced_frames_only():
    model = build()
    frames = pixel_values()
    with torch.no_grad():
        full = model(frames)
        subset = model(frames, query_num_frames=2)
        # linspace(0, FRAMES - 1, 2) -> frames 0 and 3.
        pooled = model.msqnet.image_model(pixel_values=frames[:, [0, FRAMES - 1]].flatten(0, 1)).pooler_output
    assert torch.allclose(subset.video_query_embeds, pooled.view(BATCH, 2, -1).mean(dim=1), atol=1e-6)
    # The video branch does not depend on the query frames.
    assert subset.encoder_last_hidden_state.equal(full.encoder_last_hidden_state)


@pytest.mark.parametrize("output_attentions", [False, True])
def test_sdpa_timesformer_matches_eager(output_attentions):
    eager = build(seed=2)
    sdpa = build(seed=3, video_attn_implementation="sdpa")
    assert set(eager.state_dict()) == set(sdpa.state_dict())
    sdpa.load_state_dict(eager.state_dict())
    layer = sdpa.msqnet.video_model.encoder.layer[1]
    assert isinstance(layer.attention.attention, MSQNetTimesformerSdpaSelfAttention)
    assert isinstance(layer.temporal_attention.attention, MSQNetTimesformerSdpaSelfAttention)
    assert type(eager.msqnet.video_model.encoder.layer[1].attention.attention).__name__ == "TimesformerSelfAttention"
    frames = pixel_values(seed=4)
    with torch.no_grad():
        expected = eager(frames, output_attentions=output_attentions, output_hidden_states=True)
        actual = sdpa(frames, output_attentions=output_attentions, output_hidden_states=True)
    assert max_abs_diff(actual.video_hidden_states[-1], expected.video_hidden_states[-1]) < 1e-5
    assert max_abs_diff(actual.logits, expected.logits) < 1e-5
    if output_attentions:
        assert actual.video_attentions[0].shape == expected.video_attentions[0].shape
        assert max_abs_diff(actual.video_attentions[0], expected.video_attentions[0]) < 1e-6


def test_sdpa_timesformer_gradients_match_eager():
    labels = torch.ones(BATCH, tester.num_labels)
    grads = []
    for implementation in (None, "sdpa"):
        model = build(seed=5, dropout=0.0, video_attn_implementation=implementation).train()
        model(pixel_values(), labels=labels).loss.backward()
        grads.append(model.msqnet.video_model.encoder.layer[0].attention.attention.qkv.weight.grad)
    assert grads[0].abs().max() > 0 and max_abs_diff(grads[0], grads[1]) < 1e-5


def test_video_attn_implementation_reaches_videomae():
    model = build(video_config=dict(VIDEOMAE_CONFIG), video_attn_implementation="eager")
    assert model.msqnet.video_model.config._attn_implementation == "eager"
    reference = build(video_config=dict(VIDEOMAE_CONFIG))
    reference.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert max_abs_diff(model(pixel_values()).logits, reference(pixel_values()).logits) < 1e-5


@pytest.mark.slow
def test_model_compiles_to_one_graph_with_same_logits():
    model = build(seed=6)
    frames = pixel_values()
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        assert max_abs_diff(compiled(frames).logits, model(frames).logits) < 1e-6


@pytest.mark.slow
def test_inductor_compiled_model_matches_eager():
    """Inductor generates and compiles C++ kernels: about a minute on a loaded 2-core machine."""
    model = build(seed=7, video_attn_implementation="sdpa")
    frames = pixel_values()
    torch._dynamo.reset()
    compiled = torch.compile(model)
    with torch.no_grad():
        assert max_abs_diff(compiled(frames).logits, model(frames).logits) < 1e-5


def test_gradient_checkpointing_gives_same_gradients_everywhere():
    labels = torch.ones(BATCH, tester.num_labels)
    runs = []
    for checkpointing in (False, True):
        model = build(seed=8, dropout=0.0, video_attn_implementation="sdpa").train()
        if checkpointing:
            # `activation_checkpointing_enable` is the newer name of `gradient_checkpointing_enable`.
            getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)()
            assert model.msqnet.video_model.encoder.layer[0].gradient_checkpointing
        loss = model(pixel_values(), labels=labels).loss
        loss.backward()
        runs.append((loss.detach(), {name: p.grad for name, p in model.named_parameters() if p.requires_grad}))
    (loss, grads), (checkpointed_loss, checkpointed_grads) = runs
    assert torch.allclose(loss, checkpointed_loss, atol=1e-6)
    assert grads.keys() == checkpointed_grads.keys()
    for name, grad in grads.items():
        assert grad is not None and torch.allclose(grad, checkpointed_grads[name], atol=1e-6), name
    # The comparison is not between zeros: every trainable parameter receives a gradient.
    assert not [name for name, grad in grads.items() if not grad.abs().sum() > 0]


def test_every_model_preset_is_a_valid_config_and_the_fast_presets_differ_as_documented():
    from modeling_msqnet.resources import available_presets, preset_path

    configs = {name: MSQNetConfig.from_json_file(preset_path(name, "models")) for name in available_presets("models")}
    fast, fixed_camera = configs["msqnet-paper-fast"], configs["msqnet-paper-fast-fixed-camera"]
    assert fast.video_static_patch_threshold is None and fast.video_token_merge_per_layer == 14
    assert fixed_camera.video_static_patch_threshold == 0.1 and fixed_camera.video_token_merge_per_layer is None
    same = ("video_attn_implementation", "query_num_frames", "num_frames", "hidden_size", "freeze_vision_model")
    assert all(getattr(fast, name) == getattr(fixed_camera, name) for name in same)
