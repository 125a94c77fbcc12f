"""Label queries as `forward` inputs: stateless scoring of any label set, safe across threads, and folders saved
before the change scoring as they did."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from tiny_models import LABELS, TEXT_CONFIG, MSQNetModelTester, tiny_clip_tokenizer
from transformers import AutoModelForVideoClassification, pipeline

from modeling_msqnet import MSQNetForVideoClassification, MSQNetProcessor


FIXTURES = Path(__file__).parent / "fixtures" / "saved_before_label_inputs"
EXPECTED = json.loads((FIXTURES / "expected_logits.json").read_text())
TEXT_CONFIG_FOR_TOKENIZER = dict(TEXT_CONFIG, vocab_size=23, bos_token_id=21, eos_token_id=22, pad_token_id=22)
# Candidate sets of the threaded tests: trained names, new names, other orders and sizes.
CANDIDATE_SETS = [
    ["walking", "jumping"],
    ["lower", "newer wider", "walking"],
    ["sleeping", "running", "eating", "lowest"],
    ["wider"],
    ["newer", "lower", "lowest", "walking", "eating"],
]

tester = MSQNetModelTester()


def shared_head_model(label_query_mode="text_derived", seed=0):
    overrides = dict(text_config=TEXT_CONFIG_FOR_TOKENIZER, classifier_head="shared")
    if label_query_mode == "text_derived":
        overrides.update(label_query_mode="text_derived", label_text_embed_dim=16)
    model = tester.create_model(seed=seed, **overrides)
    model.set_labels(LABELS, tokenizer=tiny_clip_tokenizer())
    return model.eval()


def snapshot(model):
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}, model.config.to_dict()


def assert_unchanged(model, before):
    state, config = before
    assert model.config.to_dict() == config
    assert state.keys() == model.state_dict().keys()
    assert all(torch.equal(tensor, state[name]) for name, tensor in model.state_dict().items())


@pytest.mark.parametrize("name", ["per_class", "learned_shared", "text_derived"])
def test_folders_saved_before_load_and_score_as_they_did(name):
    model = MSQNetForVideoClassification.from_pretrained(FIXTURES / name).eval()
    pixel_values = tester.prepare_pixel_values(seed=0)
    with torch.no_grad():
        logits = model(pixel_values=pixel_values).logits
    torch.testing.assert_close(logits, torch.tensor(EXPECTED[name]["logits"]), rtol=1e-5, atol=1e-5)
    auto = AutoModelForVideoClassification.from_pretrained(FIXTURES / name).eval()
    with torch.no_grad():
        torch.testing.assert_close(auto(pixel_values=pixel_values).logits, logits)
    if "new_names" in EXPECTED[name]:
        # Trained and new names scored as inputs give what relabelling the model in place gave.
        processor = MSQNetProcessor.from_pretrained(FIXTURES / name)
        label_embeds, columns = model.label_inputs_for_names(EXPECTED[name]["new_names"], processor.tokenizer)
        assert columns is None
        with torch.no_grad():
            new_logits = model(pixel_values=pixel_values, label_embeds=label_embeds).logits
        expected = torch.tensor(EXPECTED[name]["new_names_logits"])
        torch.testing.assert_close(new_logits, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("label_query_mode", ["text_derived", "learned"])
def test_processor_text_inputs_score_one_column_per_label_and_change_nothing(label_query_mode, tmp_path):
    model = shared_head_model(label_query_mode)
    processor = MSQNetProcessor(video_processor=tester.create_video_processor(), tokenizer=tiny_clip_tokenizer())
    frames = torch.randint(0, 255, (4, 40, 48, 3), dtype=torch.uint8).numpy()
    names = ["lower", "newer wider", "walking"]
    inputs = processor(videos=frames, text=names, return_tensors="pt")
    assert set(inputs) == {"pixel_values", "input_ids", "attention_mask"}
    assert inputs["input_ids"].shape[0] == len(names)
    before = snapshot(model)
    with torch.no_grad():
        logits = model(**inputs).logits
        trained = model(pixel_values=inputs["pixel_values"]).logits
        from_embeds = model(
            pixel_values=inputs["pixel_values"],
            label_embeds=model.msqnet.get_label_embeds(inputs["input_ids"], inputs["attention_mask"]),
        ).logits
    assert logits.shape == (1, len(names)) and trained.shape == (1, len(LABELS))
    torch.testing.assert_close(logits, from_embeds)
    assert_unchanged(model, before)
    templated = processor(text=names, hypothesis_template="a video of {}", return_tensors="pt")
    assert templated["input_ids"].shape[1] > inputs["input_ids"].shape[1]
    with pytest.raises(ValueError, match="hypothesis_template"):
        processor(text=names, hypothesis_template="no placeholder")


def test_a_training_forward_does_not_write_the_problem_type():
    model = tester.create_model(problem_type=None).train()
    before = model.config.to_dict()
    outputs = model(pixel_values=tester.prepare_pixel_values(), labels=tester.prepare_labels())
    assert torch.isfinite(outputs.loss)
    assert model.config.to_dict() == before and model.config.problem_type is None


def test_label_input_errors():
    model = shared_head_model()
    pixel_values = tester.prepare_pixel_values(batch_size=1)
    with pytest.raises(ValueError, match="either as `input_ids` or as `label_embeds`"):
        model(pixel_values, input_ids=torch.ones(2, 3, dtype=torch.long), label_embeds=torch.zeros(2, 16))
    with pytest.raises(ValueError, match=r"label_embeds` must have shape \(num_labels, 16\)"):
        model(pixel_values, label_embeds=torch.zeros(2, 7))
    per_class = tester.create_model()
    with pytest.raises(ValueError, match="per-class head scores only the labels it was trained on"):
        per_class(pixel_values, label_embeds=torch.zeros(2, 16))
    with pytest.raises(ValueError, match="per-class head has no trained weights for \\['flying'\\]"):
        per_class.label_inputs_for_names(["walking", "flying"])
    assert per_class.label_inputs_for_names(["eating", "walking"]) == (None, [2, 0])
    no_text = tester.create_model(classifier_head="shared")
    with pytest.raises(ValueError, match="cannot embed the new label names \\['flying'\\]"):
        no_text.label_inputs_for_names(["walking", "flying"])


def test_one_model_serves_threads_with_different_label_sets():
    model = shared_head_model()
    tokenizer = tiny_clip_tokenizer()
    videos = [tester.prepare_pixel_values(batch_size=1, seed=seed) for seed in range(3)]
    jobs = [(video_index, names) for video_index in range(len(videos)) for names in CANDIDATE_SETS] * 4
    label_embeds = {tuple(names): model.msqnet.label_embeds_for_names(names, tokenizer) for names in CANDIDATE_SETS}
    with torch.no_grad():
        alone = {
            (video_index, tuple(names)): model(videos[video_index], label_embeds=label_embeds[tuple(names)]).logits
            for video_index, names in jobs
        }
    before = snapshot(model)

    def score(job):
        video_index, names = job
        with torch.no_grad():
            return model(videos[video_index], label_embeds=label_embeds[tuple(names)]).logits

    with ThreadPoolExecutor(max_workers=6) as executor:
        results = list(executor.map(score, jobs))
    for job, logits in zip(jobs, results):
        assert torch.equal(logits, alone[(job[0], tuple(job[1]))]), f"thread answer differs for {job}"
    assert_unchanged(model, before)


@pytest.fixture(scope="module")
def zero_shot_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zero-shot")
    model = shared_head_model()
    model.save_pretrained(folder)
    MSQNetProcessor(video_processor=tester.create_video_processor(), tokenizer=tiny_clip_tokenizer()).save_pretrained(
        folder
    )
    return folder


def test_a_pipeline_shared_by_threads_gives_every_call_its_own_answer(zero_shot_folder):
    classifier = pipeline("zero-shot-video-classification", model=str(zero_shot_folder), trust_remote_code=True)
    generator = torch.Generator().manual_seed(0)
    videos = [torch.randint(0, 255, (6, 40, 48, 3), generator=generator, dtype=torch.uint8).numpy() for _ in range(3)]
    jobs = [(video_index, names) for video_index in range(len(videos)) for names in CANDIDATE_SETS] * 3
    alone = {
        (video_index, tuple(names)): classifier(videos[video_index], candidate_labels=names)
        for video_index, names in jobs
    }
    barrier = threading.Barrier(6)

    def classify(job):
        video_index, names = job
        if job in jobs[:6]:
            barrier.wait()  # start the first calls together
        return classifier(videos[video_index], candidate_labels=names)

    with ThreadPoolExecutor(max_workers=6) as executor:
        results = list(executor.map(classify, jobs))
    for (video_index, names), predictions in zip(jobs, results):
        assert predictions == alone[(video_index, tuple(names))], f"answer differs for {names} on video {video_index}"


def test_the_pipeline_caches_label_embeddings_within_a_bound(zero_shot_folder):
    classifier = pipeline("zero-shot-video-classification", model=str(zero_shot_folder), trust_remote_code=True)
    classifier.label_inputs_cache_size = 2
    calls = []
    text_forward = classifier.model.msqnet.text_model.forward

    def counting_forward(*args, **kwargs):
        calls.append(1)
        return text_forward(*args, **kwargs)

    classifier.model.msqnet.text_model.forward = counting_forward
    video = torch.randint(0, 255, (6, 40, 48, 3), dtype=torch.uint8).numpy()
    first = classifier(video, candidate_labels=CANDIDATE_SETS[0])
    assert classifier(video, candidate_labels=CANDIDATE_SETS[0]) == first
    assert len(calls) == 1, "a repeated candidate set embedded its texts again"
    for names in CANDIDATE_SETS[1:4]:
        classifier(video, candidate_labels=names)
    assert len(classifier._label_inputs_cache) == 2
    assert classifier(video, candidate_labels=CANDIDATE_SETS[0]) == first
    assert len(calls) == 5, "an evicted candidate set was not embedded again"


def test_the_pipeline_scores_known_names_of_a_per_class_model(tmp_path):
    model, _ = tester.save_model_with_processor(tmp_path / "per-class")
    classifier = pipeline("zero-shot-video-classification", model=str(tmp_path / "per-class"), trust_remote_code=True)
    video = torch.randint(0, 255, (6, 40, 48, 3), dtype=torch.uint8).numpy()
    predictions = classifier(video, candidate_labels=["eating", "walking"])
    inputs = tester.create_video_processor()(video, return_tensors="pt")
    with torch.no_grad():
        scores = model(**inputs).logits[0].sigmoid()
    expected = {"eating": scores[2].item(), "walking": scores[0].item()}
    assert {p["label"]: pytest.approx(p["score"], abs=1e-6) for p in predictions} == expected
    with pytest.raises(ValueError, match="per-class head has no trained weights"):
        classifier(video, candidate_labels=["eating", "flying"])
