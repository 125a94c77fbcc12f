"""Numerical agreement with an independent implementation of the published model
(`modeling_msqnet/conversion/official_reference.py`), through the official-layout converter."""

import pytest
import torch
from tiny_models import IMAGE_SIZE, MSQNetModelTester, tiny_config

from modeling_msqnet import MSQNetForVideoClassification
from modeling_msqnet.conversion.convert_official import convert_official_state_dict, load_official_into


build_official_pair = MSQNetModelTester().create_official_pair


@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
def test_logits_match_reference(attn_implementation):
    official, ours = build_official_pair(seed=1)
    ours.config._attn_implementation = attn_implementation
    pixel_values = torch.randn(3, 4, 3, IMAGE_SIZE, IMAGE_SIZE)
    with torch.no_grad():
        expected = official(pixel_values)
        actual = ours(pixel_values).logits
    assert actual.shape == expected.shape == (3, 5)
    assert (actual - expected).abs().max().item() < 1e-4


def test_reference_agreement_is_not_vacuous():
    """Perturbing one converted weight must break agreement: the test compares real computations."""
    official, ours = build_official_pair(seed=2)
    pixel_values = torch.randn(2, 4, 3, IMAGE_SIZE, IMAGE_SIZE)
    with torch.no_grad():
        weight = ours.msqnet.decoder.layers[1].encoder_attn.v_proj.weight
        weight.add_(0.1 * torch.randn_like(weight))
        assert (ours(pixel_values).logits - official(pixel_values)).abs().max().item() > 1e-3


def test_converter_splits_packed_attention_and_rejects_unknown_keys():
    official, _ = build_official_pair(seed=3)
    state = official.state_dict()
    converted = convert_official_state_dict(state)
    packed = state["transformer.decoder.layers.0.multihead_attn.in_proj_weight"]
    d = packed.shape[1]
    assert torch.equal(converted["msqnet.decoder.layers.0.encoder_attn.k_proj.weight"], packed[d : 2 * d])
    assert torch.equal(converted["classifier.weight"], state["group_linear.W"])
    with pytest.raises(ValueError, match="no counterpart.*extra.weight"):
        convert_official_state_dict({**state, "extra.weight": torch.zeros(1)})


def test_wrong_label_count_is_a_clear_error():
    official, _ = build_official_pair(seed=4)
    config = tiny_config(id2label={0: "a", 1: "b"}, label2id={"a": 0, "b": 1})
    with pytest.raises(ValueError, match="shape mismatches.*label_embeddings"):
        load_official_into(MSQNetForVideoClassification(config), official.state_dict())


def test_transformers_4_clip_layout_is_accepted():
    """Official checkpoints come from transformers 4.x, where CLIPVisionModel keys start with `vision_model.`."""
    official, ours = build_official_pair(seed=5)
    state = {
        key.replace("image_model.", "image_model.vision_model.", 1) if key.startswith("image_model.") else key: value
        for key, value in official.state_dict().items()
    }
    config = ours.config
    reloaded = load_official_into(MSQNetForVideoClassification(config), state).eval()
    pixel_values = torch.randn(1, 4, 3, IMAGE_SIZE, IMAGE_SIZE)
    with torch.no_grad():
        assert (reloaded(pixel_values).logits - official(pixel_values)).abs().max().item() < 1e-4
