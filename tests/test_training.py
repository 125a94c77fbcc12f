"""examples/train.py and examples/evaluate_model.py end to end on tiny models and tiny generated videos (CPU)."""

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from tiny_models import tiny_config

from modeling_msqnet import MSQNetVideoProcessor
from modeling_msqnet.data import FixedSizeCollator, MSQNetVideoTransform, load_manifest_dataset
from modeling_msqnet.data.synthetic_actions import generate_benchmark
from modeling_msqnet.hub_code.modeling_msqnet import classification_loss
from modeling_msqnet.models import default_video_processor, load_label_names
from modeling_msqnet.training.arguments import parse_args
from modeling_msqnet.training.dataloaders import IndexedTransform
from modeling_msqnet.training.evaluation import compute_metrics
from modeling_msqnet.training.run_setup import train_augmentation
from modeling_msqnet.training.training import train


ROOT = Path(__file__).resolve().parents[1]
TRAIN_SCRIPT = ROOT / "examples" / "train.py"
EVAL_SCRIPT = ROOT / "examples" / "evaluate_model.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
METRIC_KEYS = ("mAP_macro", "AP_micro", "multilabel_accuracy", "loss", "num_videos")


def run(command, timeout=300, env=None):
    result = subprocess.run(
        command, env={**ENV, **(env or {})}, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return result


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """12 training clips; an evaluation manifest of 7 clips plus one corrupt file (8 lines: not a multiple of 6)."""
    root = tmp_path_factory.mktemp("bench")
    generate_benchmark(root, num_train=12, num_test=7, num_frames=8, size=32, seed=0, progress=False)
    labels = json.loads((root / "labels.json").read_text())
    (root / "videos" / "corrupt.mp4").write_bytes(b"this is not a video" * 8)
    lines = (root / "test.jsonl").read_text().splitlines()
    lines.insert(3, json.dumps({"video": "videos/corrupt.mp4", "labels": [labels[0]]}))
    (root / "eval.jsonl").write_text("\n".join(lines) + "\n")
    config = tiny_config(id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)})
    config.to_json_file(root / "tiny_config.json")
    return root


def train_command(bench, output_dir, *extra):
    return [
        "--model",
        str(bench / "tiny_config.json"),
        "--train_manifest",
        str(bench / "train.jsonl"),
        "--output_dir",
        str(output_dir),
        "--learning_rate",
        "1e-3",
        "--seed",
        "3",
        *extra,
    ]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_run(bench, tmp_path_factory):
    """Two CPU processes (gloo DDP): 12 clips, batch 2 per process -> 3 steps, evaluation batch 3 per process."""
    output_dir = tmp_path_factory.mktemp("ddp")
    # `accelerate launch --cpu` starts a single process unless mpirun is set up; the torchrun launcher behind
    # `--multi_gpu` with ACCELERATE_USE_CPU=1 starts CPU processes that join a gloo process group.
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        str(TRAIN_SCRIPT),
    ]
    args = train_command(
        bench,
        output_dir,
        "--eval_manifest",
        str(bench / "eval.jsonl"),
        "--num_train_epochs",
        "1",
        "--per_device_train_batch_size",
        "2",
        "--per_device_eval_batch_size",
        "3",
    )
    result = run(launch + args, env={"ACCELERATE_USE_CPU": "1", "CUDA_VISIBLE_DEVICES": ""})
    return output_dir, result


@pytest.mark.slow
def test_ddp_training_matches_single_process_evaluation(bench, ddp_run, tmp_path, capsys):
    output_dir, result = ddp_run
    assert "Final evaluation: mAP_macro" in result.stdout + result.stderr
    train_report = json.loads((output_dir / "eval_report.json").read_text())

    report_path, table_path = tmp_path / "report.json", tmp_path / "per_class.csv"
    code = load_evaluate_script().main(
        [
            "--model",
            str(output_dir),
            "--manifest",
            str(bench / "eval.jsonl"),
            "--output",
            str(report_path),
            "--per_device_eval_batch_size",
            "2",
            "--per_class_table",
            str(table_path),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "mAP_macro" in printed and "skipped" in printed and "corrupt.mp4 (line 4)" in printed
    eval_report = json.loads(report_path.read_text())

    assert train_report["num_videos"] == eval_report["num_videos"] == 7
    for key in METRIC_KEYS:
        assert eval_report[key] == pytest.approx(train_report[key], abs=1e-6), key
    assert eval_report["per_class_AP"].keys() == train_report["per_class_AP"].keys()
    for label, value in train_report["per_class_AP"].items():
        assert (value is None) == (eval_report["per_class_AP"][label] is None), label
        if value is not None:
            assert eval_report["per_class_AP"][label] == pytest.approx(value, abs=1e-6), label
    for report in (train_report, eval_report):
        assert report["skipped"]["count"] == 1
        [skipped] = report["skipped"]["videos"]
        assert skipped["video"].endswith("corrupt.mp4") and skipped["line"] == 4 and skipped["error"]
    rows = table_path.read_text().splitlines()
    assert rows[0] == "index,label,AP,positives" and len(rows) == 1 + len(train_report["per_class_AP"])


@pytest.mark.slow
def test_ddp_output_folder_is_hub_ready(bench, ddp_run):
    from transformers import AutoModelForVideoClassification, pipeline

    output_dir, _ = ddp_run
    for name in (
        "model.safetensors",
        "config.json",
        "README.md",
        "eval_report.json",
        "training_history.json",
        "training_curves.png",
        "per_class_ap.png",
        "video_preprocessor_config.json",
        "modeling_msqnet.py",
    ):
        assert (output_dir / name).is_file(), name
    history = json.loads((output_dir / "training_history.json").read_text())
    assert [entry["epoch"] for entry in history["history"]] == [1]
    assert history["history"][0]["step"] == 3 and "eval_mAP_macro" in history["history"][0]
    card = (output_dir / "README.md").read_text()
    assert "mAP (macro)" in card and "| num_processes | 2 |" in card

    model = AutoModelForVideoClassification.from_pretrained(output_dir, trust_remote_code=True)
    labels = json.loads((bench / "labels.json").read_text())
    assert [model.config.id2label[i] for i in range(len(labels))] == labels
    classifier = pipeline("video-classification", model=str(output_dir), trust_remote_code=True)
    predictions = classifier(str(bench / "videos" / "test_00000.mp4"), top_k=3)
    assert len(predictions) == 3 and all(p["label"] in labels for p in predictions)


def reset_accelerate_state():
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def train_in_process(argv):
    """`examples/train.py` in this process (saves the interpreter start-up and imports of a subprocess)."""
    reset_accelerate_state()
    try:
        return train(parse_args(argv))
    finally:
        reset_accelerate_state()


def test_exact_resume_from_mid_epoch_checkpoint(bench, tmp_path):
    # 12 clips, batch 3 -> 4 steps per epoch: step_3 is in the middle of the first epoch.
    common = ("--per_device_train_batch_size", "3", "--max_train_steps", "6", "--checkpointing_steps", "3")
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    train_in_process(train_command(bench, full, *common))
    assert (full / "step_3").is_dir() and (full / "step_6").is_dir()
    train_in_process([*train_command(bench, resumed, *common), "--resume_from_checkpoint", str(full / "step_3")])

    final, again = load_file(full / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert final.keys() == again.keys()
    assert [key for key in final if not torch.equal(final[key], again[key])] == []
    at_step_3 = load_file(full / "step_3" / "model.safetensors")
    assert any(not torch.equal(at_step_3[key], final[key]) for key in at_step_3)  # the resumed run did train
    history = json.loads((full / "training_history.json").read_text())["history"]
    assert history == json.loads((resumed / "training_history.json").read_text())["history"]
    assert [entry["step"] for entry in history] == [4, 6]


def load_evaluate_script():
    reset_accelerate_state()
    spec = importlib.util.spec_from_file_location("msqnet_examples_evaluate", EVAL_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_evaluate_unknown_label_names_the_line(bench, ddp_run, tmp_path, capsys):
    output_dir, _ = ddp_run
    lines = (bench / "test.jsonl").read_text().splitlines()[:3]
    lines[1] = json.dumps({"video": str(bench / "videos" / "test_00001.mp4"), "labels": ["moving sideways"]})
    manifest = tmp_path / "bad.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    script = load_evaluate_script()
    code = script.main(["--model", str(output_dir), "--manifest", str(manifest), "--output", str(tmp_path / "r.json")])
    error = capsys.readouterr().err
    assert code == 1
    assert f"{manifest}:2" in error and "unknown label 'moving sideways'" in error
    assert not (tmp_path / "r.json").exists()

    code = script.main(["--model", str(tmp_path / "missing"), "--manifest", str(manifest), "--output", "r.json"])
    assert code == 1 and "config.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.parse_args(["--model", "m", "--manifest", "x", "--output", "r.json", "--per_class_table", "t.txt"])


def test_parse_args_defaults_config_file_and_errors(tmp_path, capsys):
    args = parse_args(["--model", "m.json", "--train_manifest", "t.jsonl", "--output_dir", "out"])
    assert (args.learning_rate, args.lr_scheduler_type, args.weight_decay, args.num_train_epochs) == (
        1e-5,
        "cosine",
        0.0,
        100,
    )
    preset = tmp_path / "preset.json"
    preset.write_text(json.dumps({"learning_rate": 3e-4, "checkpointing_steps": "epoch", "num_train_epochs": 5}))
    args = parse_args(
        [
            "--config_file",
            str(preset),
            "--model",
            "m.json",
            "--train_manifest",
            "t.jsonl",
            "--output_dir",
            "out",
            "--num_train_epochs",
            "7",
        ]
    )
    assert (args.learning_rate, args.checkpointing_steps, args.num_train_epochs) == (3e-4, "epoch", 7)
    preset.write_text(json.dumps({"learning_rat": 1.0}))
    for argv in (
        ["--config_file", str(preset), "--model", "m", "--train_manifest", "t", "--output_dir", "o"],
        ["--train_manifest", "t", "--output_dir", "o"],
        ["--model", "m", "--train_manifest", "t", "--output_dir", "o", "--checkpointing_steps", "often"],
        ["--model", "m", "--train_manifest", "t", "--output_dir", "o", "--push_to_hub"],
        ["--model", "m", "--train_manifest", "t", "--output_dir", "o", "--augmentation_kwargs", '{"flip": 0}'],
        ["--model", "m", "--train_manifest", "t", "--output_dir", "o", "--augmentation_kwargs", "[0.5]"],
    ):
        with pytest.raises(SystemExit):
            parse_args(argv)
    # Preset values are checked like flags on the command line; a byte order mark is fine.
    preset.write_bytes(b"\xef\xbb\xbf" + json.dumps({"num_train_epochs": 0}).encode())
    with pytest.raises(SystemExit):
        parse_args(["--config_file", str(preset), "--model", "m", "--train_manifest", "t", "--output_dir", "o"])
    assert "'num_train_epochs': expected a positive integer, got 0" in capsys.readouterr().err
    preset.write_bytes(b"\xef\xbb\xbf" + json.dumps({"checkpointing_steps": "3", "augmentation_kwargs": {}}).encode())
    args = parse_args(["--config_file", str(preset), "--model", "m", "--train_manifest", "t", "--output_dir", "o"])
    assert (args.checkpointing_steps, args.augmentation_kwargs) == (3, {})
    for name in (ROOT / "configuration" / "training").glob("*.json"):
        parse_args(["--config_file", str(name), "--model", "m", "--train_manifest", "t", "--output_dir", "o"])


def test_augmentation_kwargs_override_the_papers_augmentation():
    args = parse_args(
        [
            "--model",
            "m",
            "--train_manifest",
            "t",
            "--output_dir",
            "o",
            "--augmentation_kwargs",
            '{"flip_probability": 0.0, "scales": [1.0, 0.9]}',
        ]
    )
    video_processor = MSQNetVideoProcessor(crop_size={"height": 32, "width": 48})
    augmentation = train_augmentation(video_processor, args.augmentation_kwargs)
    assert (augmentation.flip_probability, augmentation.scales, augmentation.crop_size) == (0.0, (1.0, 0.9), (32, 48))
    default = train_augmentation(video_processor)
    assert (default.flip_probability, default.scales) == (0.5, (1.0, 0.875, 0.75, 0.66))


def test_load_label_names(tmp_path):
    names, info = load_label_names("hockey")
    assert len(names) == 12 and info["problem_type"] == "multi_label_classification"
    assert load_label_names("hmdb51")[1]["problem_type"] == "single_label_classification"
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(["a", "b"]))
    assert load_label_names(path) == (["a", "b"], {})
    path.write_text(json.dumps(["a", "a"]))
    with pytest.raises(ValueError, match="repeats"):
        load_label_names(path)


def test_fixed_size_collator_keeps_failed_examples_in_place(bench):
    config = tiny_config(id2label=dict(enumerate(["a", "b"])), label2id={"a": 0, "b": 1})
    manifest = bench / "mini.jsonl"
    manifest.write_text(
        json.dumps({"video": "videos/test_00000.mp4", "labels": ["a"]})
        + "\n"
        + json.dumps({"video": "videos/corrupt.mp4", "labels": ["b"]})
        + "\n"
    )
    dataset = load_manifest_dataset(manifest, config.label2id)
    processor = default_video_processor(config)
    dataset.set_transform(IndexedTransform(MSQNetVideoTransform.from_config(processor, config)))
    batch = FixedSizeCollator((4, 3, 32, 32))([dataset[0], dataset[1]])
    assert batch["pixel_values"].shape == (2, 4, 3, 32, 32)
    assert batch["valid"].tolist() == [True, False] and batch["index"].tolist() == [0, 1]
    assert torch.count_nonzero(batch["pixel_values"][1]) == 0
    assert [entry["index"] for entry in batch["skipped"]] == [1] and batch["skipped"][0]["error"]

    logits = torch.tensor([[2.0, -1.0], [5.0, 5.0]], requires_grad=True)
    loss = classification_loss(logits, batch["labels"], "multi_label_classification", weights=batch["valid"])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[:1], batch["labels"][:1])
    assert torch.allclose(loss, expected)
    empty = classification_loss(
        logits, batch["labels"], "multi_label_classification", weights=torch.tensor([False, False])
    )
    empty.backward()
    assert empty.item() == 0.0 and torch.count_nonzero(logits.grad) == 0


def test_compute_metrics_single_label():
    logits = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0], [0.0, 3.0, 1.0], [1.0, 0.0, 2.0]])
    report = compute_metrics(logits, np.array([0, 1, 2, 2]), "single_label_classification", {0: "x", 1: "y", 2: "z"})
    assert report["top1"] == pytest.approx(0.75) and report["top5"] == 1.0 and report["num_videos"] == 4
    assert report["per_class_AP"]["x"] == 1.0 and set(report["per_class_AP"]) == {"x", "y", "z"}
    assert "AP_micro" not in report and "multilabel_accuracy" not in report


def test_train_from_pretrained_parts_saves_processor_with_tokenizer(bench, tmp_path):
    from tiny_models import save_tiny_clip, save_tiny_timesformer
    from transformers import AutoProcessor

    save_tiny_timesformer(tmp_path / "timesformer", num_frames=2)
    save_tiny_clip(tmp_path / "clip")
    output_dir = tmp_path / "out"
    report = train_in_process(
        [
            "--video_model", str(tmp_path / "timesformer"), "--clip_model", str(tmp_path / "clip"),
            "--num_frames", "4", "--labels", str(bench / "labels.json"),
            "--train_manifest", str(bench / "train.jsonl"), "--output_dir", str(output_dir),
            "--max_train_steps", "1", "--per_device_train_batch_size", "2",
        ]
    )  # fmt: skip
    assert report == {}  # no evaluation manifest
    processor = AutoProcessor.from_pretrained(output_dir, trust_remote_code=True)
    assert type(processor).__name__ == "MSQNetProcessor" and processor.video_processor.num_frames == 4
    assert processor.video_processor.crop_size["height"] == 32
    config = json.loads((output_dir / "config.json").read_text())
    assert config["text_config"]["model_type"] == "clip_text_model" and config["num_frames"] == 4
    history = json.loads((output_dir / "training_history.json").read_text())["history"]
    assert [entry["step"] for entry in history] == [1]


# Saving, resuming and refusing to succeed on nothing.


def test_non_empty_output_dir_is_refused_unless_overwriting_or_resuming(bench, tmp_path):
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    (output_dir / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="--overwrite_output_dir"):
        train_in_process(train_command(bench, output_dir, "--max_train_steps", "1"))
    (output_dir / "config.json").unlink()
    (output_dir / "config.json").mkdir()
    with pytest.raises(ValueError, match="not empty"):
        train_in_process(train_command(bench, output_dir, "--max_train_steps", "1"))
    with pytest.raises(FileExistsError, match="is a file, expected a folder"):
        train_in_process(train_command(bench, bench / "labels.json", "--max_train_steps", "1"))


def test_model_folder_without_weights_is_an_error(bench, tmp_path):
    folder = tmp_path / "only_config"
    folder.mkdir()
    (folder / "config.json").write_text((bench / "tiny_config.json").read_text())
    argv = train_command(bench, tmp_path / "out", "--max_train_steps", "1")
    argv[argv.index("--model") + 1] = str(folder)
    with pytest.raises(FileNotFoundError, match=r"no weights: expected .*only_config/model\.safetensors"):
        train_in_process(argv)
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_a_failed_save_leaves_the_finished_folder_as_it_was(bench, tmp_path, monkeypatch):
    from modeling_msqnet.training import output_folder

    output_dir = tmp_path / "out"
    common = ("--max_train_steps", "1", "--per_device_train_batch_size", "4")
    train_in_process(train_command(bench, output_dir, *common))
    before = {name: (output_dir / name).read_bytes() for name in ("config.json", "model.safetensors", "README.md")}

    def killed(*args, **kwargs):
        raise RuntimeError("killed while writing the model card")

    monkeypatch.setattr(output_folder, "write_model_card", killed)
    argv = [*train_command(bench, output_dir, *common), "--overwrite_output_dir", "--learning_rate", "5e-2"]
    with pytest.raises(RuntimeError, match="killed"):
        train_in_process(argv)
    # The new config and weights were written, but into a hidden folder: the finished one is untouched.
    assert {name: (output_dir / name).read_bytes() for name in before} == before
    staged = tmp_path / ".out.saving"
    assert (staged / "model.safetensors").is_file()


def test_checkpoints_are_atomic_and_latest_takes_the_newest_complete_one_of_this_run(bench, tmp_path, monkeypatch):
    import shutil

    from accelerate import Accelerator

    from modeling_msqnet.training.checkpointing import CHECKPOINT_STATE_FILE, find_latest_checkpoint

    output_dir = tmp_path / "out"
    common = ("--per_device_train_batch_size", "4", "--max_train_steps", "2", "--checkpointing_steps", "1")
    save_state, calls = Accelerator.save_state, []

    def killed_on_second_save(self, output_dir=None, **kwargs):
        calls.append(output_dir)
        result = save_state(self, output_dir, **kwargs)  # the weights are written ...
        if len(calls) == 2:
            raise RuntimeError("killed")  # ... but the run dies before the checkpoint is complete
        return result

    monkeypatch.setattr(Accelerator, "save_state", killed_on_second_save)
    with pytest.raises(RuntimeError, match="killed"):
        train_in_process(train_command(bench, output_dir, *common))
    monkeypatch.undo()
    assert (output_dir / "step_1" / CHECKPOINT_STATE_FILE).is_file()
    assert not (output_dir / "step_2").exists()  # no half-written checkpoint under a checkpoint's name

    state = json.loads((output_dir / "step_1" / CHECKPOINT_STATE_FILE).read_text())
    # A newer half-written folder and a newer checkpoint of a run with another seed.
    shutil.copytree(output_dir / "step_1", output_dir / "step_9")
    (output_dir / "step_9" / CHECKPOINT_STATE_FILE).unlink()
    shutil.copytree(output_dir / "step_1", output_dir / "step_5")
    other = {**state, "completed_steps": 5, "run": {**state["run"], "seed": 99}}
    (output_dir / "step_5" / CHECKPOINT_STATE_FILE).write_text(json.dumps(other))
    assert find_latest_checkpoint(output_dir, state["run"]) == output_dir / "step_1"
    with pytest.raises(FileNotFoundError, match="no complete checkpoint of this run's settings"):
        find_latest_checkpoint(output_dir, {**state["run"], "learning_rate": 1.0})
    older = {**state, "run": {key: value for key, value in state["run"].items() if key != "learning_rate"}}
    (output_dir / "step_1" / CHECKPOINT_STATE_FILE).write_text(json.dumps(older))  # written before it was recorded
    assert find_latest_checkpoint(output_dir, state["run"]) == output_dir / "step_1"

    train_in_process([*train_command(bench, output_dir, *common), "--resume_from_checkpoint", "latest"])
    history = json.loads((output_dir / "training_history.json").read_text())["history"]
    assert [entry["step"] for entry in history] == [2]
    assert (output_dir / "step_2" / CHECKPOINT_STATE_FILE).is_file() and (output_dir / "model.safetensors").is_file()


def test_a_manifest_of_missing_videos_fails_training(bench, tmp_path, monkeypatch, caplog):
    import runpy

    from transformers.utils import logging

    manifest = tmp_path / "missing.jsonl"
    labels = json.loads((bench / "labels.json").read_text())
    manifest.write_text(
        "".join(json.dumps({"video": f"gone_{i}.mp4", "labels": [labels[0]]}) + "\n" for i in range(3))
    )
    output_dir = tmp_path / "out"
    argv = train_command(bench, output_dir, "--max_train_steps", "1")
    argv[argv.index("--train_manifest") + 1] = str(manifest)
    # The package's own command line (what `accelerate launch -m modeling_msqnet.training` runs), in this process.
    monkeypatch.setattr(sys, "argv", ["modeling_msqnet.training", *argv])
    verbosity = logging.get_verbosity()
    reset_accelerate_state()
    try:
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_module("modeling_msqnet.training", run_name="__main__")
    finally:
        logging.set_verbosity(verbosity)
        reset_accelerate_state()
    assert exit_info.value.code == 1
    assert f"error: {manifest}: all 3 videos do not exist" in caplog.text
    assert not (output_dir / "model.safetensors").exists()


@pytest.fixture(scope="module")
def saved_model(bench, tmp_path_factory):
    """An (untrained) tiny model folder with the benchmark's labels, as `save_pretrained` writes it."""
    from modeling_msqnet import MSQNetConfig, MSQNetForVideoClassification

    folder = tmp_path_factory.mktemp("saved_model")
    config = MSQNetConfig.from_json_file(bench / "tiny_config.json")
    torch.manual_seed(0)
    MSQNetForVideoClassification(config).save_pretrained(folder)
    default_video_processor(config).save_pretrained(folder)
    return folder


def test_evaluation_fails_on_missing_videos_and_broken_folders(bench, saved_model, tmp_path, capsys):
    import shutil

    output_dir = saved_model
    script = load_evaluate_script()
    labels = json.loads((bench / "labels.json").read_text())
    missing = tmp_path / "missing.jsonl"
    missing.write_text("".join(json.dumps({"video": f"gone_{i}.mp4", "labels": [labels[0]]}) + "\n" for i in range(2)))
    code = script.main(["--model", str(output_dir), "--manifest", str(missing), "--output", str(tmp_path / "r.json")])
    assert code == 1 and "all 2 videos do not exist" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()

    # More than --max_skipped_fraction unreadable: 1 corrupt video of 2 (50%), then allowed with the flag raised.
    lines = (bench / "eval.jsonl").read_text().splitlines()
    half = tmp_path / "half.jsonl"
    half.write_text("\n".join([lines[0], lines[3]]).replace('"videos/', f'"{bench}/videos/') + "\n")
    argv = ["--model", str(output_dir), "--manifest", str(half), "--output", str(tmp_path / "r.json")]
    assert script.main(argv) == 1 and "1 of 2 videos (50%) could not be read" in capsys.readouterr().err
    assert script.main([*argv, "--max_skipped_fraction", "0.5"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["num_videos"] == 1
    capsys.readouterr()

    broken = tmp_path / "broken"
    shutil.copytree(output_dir, broken)
    (broken / "model.safetensors").unlink()
    argv = ["--model", str(broken), "--manifest", str(bench / "eval.jsonl"), "--output", str(tmp_path / "b.json")]
    assert script.main(argv) == 1
    error = capsys.readouterr().err
    assert "expected" in error and "model.safetensors" in error and len(error.strip().splitlines()) == 1
    (broken / "model.safetensors").write_bytes(b"not safetensors" * 64)
    assert script.main(argv) == 1
    error = capsys.readouterr().err
    assert "could not be loaded" in error and len(error.strip().splitlines()) == 1
    (broken / "config.json").write_text('{"model_type": "msqnet", ')
    assert script.main(argv) == 1
    error = capsys.readouterr().err
    assert "config.json is not valid JSON" in error and len(error.strip().splitlines()) == 1


def test_evaluation_checks_output_paths_before_evaluating(tmp_path, capsys):
    script = load_evaluate_script()
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    for flag, value, message in (
        ("--output", str(blocker / "report.json"), "is a file, not a folder"),
        ("--output", str(tmp_path), "is a folder"),
        ("--per_class_table", str(blocker / "table.md"), "is a file, not a folder"),
        ("--per_class_table", str(tmp_path / "table.txt"), "must end with .md or .csv"),
    ):
        argv = ["--model", "m", "--manifest", "x.jsonl", "--output", str(tmp_path / "r.json"), flag, value]
        with pytest.raises(SystemExit):
            script.parse_args(argv)
        assert message in capsys.readouterr().err, (flag, value)


def test_build_model_paths(bench, tmp_path):
    """The two paths of `build_model` on their own: a new model from a config file, a saved folder to fine-tune."""
    from modeling_msqnet import MSQNetForVideoClassification
    from modeling_msqnet.models import build_model

    def model_args(model, *extra):
        return parse_args(["--model", str(model), "--train_manifest", "t", "--output_dir", "o", *extra])

    labels = json.loads((bench / "labels.json").read_text())
    setup = build_model(model_args(bench / "tiny_config.json"))
    assert setup.video_processor is None and setup.tokenizer is None and setup.base_models == []
    assert [setup.model.config.id2label[i] for i in range(len(labels))] == labels

    blank = tmp_path / "blank.json"
    tiny_config(id2label={0: "LABEL_0", 1: "LABEL_1"}).to_json_file(blank)  # what a config without labels holds
    with pytest.raises(ValueError, match="without label names"):
        build_model(model_args(blank))
    blank.write_text('{"model_type": "msqnet", ')
    with pytest.raises(ValueError, match=r"blank\.json is not a valid MSQNet config file"):
        build_model(model_args(blank))
    tiny_config(id2label={0: "LABEL_0", 1: "LABEL_1"}).to_json_file(blank)
    (tmp_path / "two.json").write_text(json.dumps(["not a benchmark action", labels[0]]))
    assert build_model(model_args(blank, "--labels", str(tmp_path / "two.json"))).model.config.num_labels == 2

    saved = tmp_path / "saved"
    torch.manual_seed(0)
    config = tiny_config(id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)})
    MSQNetForVideoClassification(config).save_pretrained(saved)
    default_video_processor(tiny_config()).save_pretrained(saved)
    trained = load_file(saved / "model.safetensors")["msqnet.label_embeddings"]
    setup = build_model(model_args(saved, "--labels", str(tmp_path / "two.json")))
    assert setup.video_processor is not None and setup.model.config.label2id == {
        "not a benchmark action": 0,
        labels[0]: 1,
    }
    # A known label keeps its trained query; the new one is drawn at random.
    queries = setup.model.msqnet.label_embeddings.detach()
    assert torch.equal(queries[1], trained[0]) and not torch.equal(queries[0], trained[0])


def test_package_modules_import_each_other_without_cycles():
    """No module of `modeling_msqnet` imports (directly or through others) a module that imports it."""
    import ast

    package = ROOT / "modeling_msqnet"
    graph = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        current_package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = current_package.split(".")[: len(current_package.split(".")) - node.level + 1]
                targets.add(".".join(base + ([node.module] if node.module else [])))
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("modeling_msqnet"):
                targets.add(node.module)
        graph[module] = {target for target in targets if target != module}
    graph = {module: {t for t in targets if t in graph} for module, targets in graph.items()}
    # Importing a package runs its __init__: a module that imports a package's submodule depends on the package.
    for module in list(graph):
        for target in list(graph[module]):
            parent = target.rsplit(".", 1)[0]
            if parent in graph and parent != module and not module.startswith(parent + "."):
                graph[module].add(parent)

    def find_cycle(start):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for target in graph[node]:
                if target == start:
                    return path + [start]
                if target not in path:
                    stack.append((target, path + [target]))
        return None

    assert "modeling_msqnet.training.training" not in graph["modeling_msqnet.training.evaluation"]
    cycles = [cycle for cycle in map(find_cycle, sorted(graph)) if cycle]
    assert cycles == [], cycles[0]


def test_data_and_optimizer_steps_on_their_own(bench):
    from accelerate import Accelerator

    from modeling_msqnet.models import build_model
    from modeling_msqnet.training.run_setup import build_dataloaders, create_optimizer_and_scheduler, prepare_model
    from modeling_msqnet.training.state import TrainingRun

    args = parse_args(train_command(bench, "unused", "--weight_decay", "0.1", "--per_device_train_batch_size", "4"))
    args.num_train_epochs = 2
    reset_accelerate_state()
    try:
        accelerator = Accelerator(cpu=True)
        run = TrainingRun(args, accelerator, Path(args.output_dir), **prepare_model(build_model(args), args))
        build_dataloaders(run)
        assert len(run.train_dataloader) == 3 and run.eval_dataloader is None  # 12 clips, batches of 4
        create_optimizer_and_scheduler(run)
        assert (run.max_train_steps, run.num_train_epochs) == (6, 2)
        decayed, not_decayed = run.optimizer.param_groups
        assert decayed["weight_decay"] == 0.1 and not_decayed["weight_decay"] == 0.0
        label_queries = accelerator.unwrap_model(run.model).msqnet.label_embeddings
        assert all(parameter.ndim >= 2 for parameter in decayed["params"])
        assert any(parameter is label_queries for parameter in not_decayed["params"])
        assert not any(parameter is label_queries for parameter in decayed["params"])
    finally:
        reset_accelerate_state()
