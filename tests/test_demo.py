# Copyright 2026 The msqnet authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Tests of the demo's own logic: the baseline, the summary line, the arguments and the training command (the full
demo takes minutes and is not run here)."""

import json
import sys

import numpy as np
import pytest

from modeling_msqnet import MSQNetConfig
from modeling_msqnet.data import multi_hot, read_manifest
from modeling_msqnet.data.synthetic_actions import ACTIONS, TEST_ACTORS, generate_benchmark
from modeling_msqnet.demo.demo import (
    DEMO_AUGMENTATION,
    DEMO_CONFIG,
    DEMO_TEXT_CONFIG,
    TRAINING_MODULE,
    format_summary_line,
    label_frequency_baseline,
    parse_args,
    parse_summary_line,
    train_command,
)
from modeling_msqnet.metrics import binary_average_precision


LABELS = ["a", "b", "c", "d"]


class TestBaseline:
    def test_values_by_hand(self):
        train = [["a"], ["a", "b"], ["c"], ["a"]]  # frequencies a 0.75, b 0.25, c 0.25, d 0
        test = [["a"], ["b"], ["b", "c"], ["a", "b"], ["c"]]
        report = label_frequency_baseline(train, test, LABELS)
        assert report["train_frequencies"] == {"a": 0.75, "b": 0.25, "c": 0.25, "d": 0.0}
        # All clips get the same score for a label: its AP is its prevalence in the test clips; "d" has no positive.
        assert report["per_class_AP"][:3] == pytest.approx([2 / 5, 3 / 5, 2 / 5])
        assert np.isnan(report["per_class_AP"][3])
        assert report["mAP_macro"] == pytest.approx((2 / 5 + 3 / 5 + 2 / 5) / 3)
        # Micro: all (clip, label) pairs ranked by score: the 5 "a" pairs first (score 0.75, 2 of the 7 positives),
        # then 10 tied at 0.25 (the other 5 positives: precision 7/15 at full recall).
        targets = multi_hot([[LABELS.index(name) for name in labels] for labels in test], len(LABELS))
        scores = np.broadcast_to([0.75, 0.25, 0.25, 0.0], targets.shape)
        assert report["AP_micro"] == pytest.approx(binary_average_precision(targets.ravel(), scores.ravel()))
        assert report["AP_micro"] == pytest.approx(2 / 7 * 2 / 5 + 5 / 7 * 7 / 15)

    def test_on_a_generated_benchmark(self, tmp_path):
        generate_benchmark(tmp_path, num_train=40, num_test=30, num_frames=2, size=16, seed=1, progress=False)
        labels = json.loads((tmp_path / "labels.json").read_text())
        assert labels == list(ACTIONS)
        train = read_manifest(tmp_path / "train.jsonl", labels)
        test = read_manifest(tmp_path / "test.jsonl", labels, extra_keys=("actor",))
        assert len(train) == 40 and len(test) == 30 and {entry["actor"] for entry in test} <= set(TEST_ACTORS)
        report = label_frequency_baseline([e["labels"] for e in train], [e["labels"] for e in test], labels)
        prevalence = multi_hot([entry["label_ids"] for entry in test], len(labels)).mean(axis=0)
        assert report["mAP_macro"] == pytest.approx(prevalence[prevalence > 0].mean())
        # About 2 labels of 12 per clip: the baseline is far below what the demo reaches (0.8).
        assert 0.1 < report["mAP_macro"] < 0.3


class TestSummaryLine:
    def test_format_and_parse_round_trip(self):
        line = format_summary_line(0.86234, 0.9, 0.16789, 7.04)
        assert line == "demo: unseen-actor mAP_macro=0.862 AP_micro=0.900 baseline_mAP_macro=0.168 minutes=7.0"
        assert parse_summary_line(line) == {
            "mAP_macro": 0.862,
            "AP_micro": 0.9,
            "baseline_mAP_macro": 0.168,
            "minutes": 7.0,
        }
        assert parse_summary_line(line + "\n")["minutes"] == 7.0
        assert parse_summary_line(format_summary_line(1.0, 0.0, 0.0, 12.345))["minutes"] == 12.3

    @pytest.mark.parametrize(
        "line",
        [
            "demo: unseen-actor mAP_macro=0.86 AP_micro=0.900 baseline_mAP_macro=0.168 minutes=7.0",
            "demo: mAP_macro=0.862 AP_micro=0.900 baseline_mAP_macro=0.168 minutes=7.0",
            "demo: unseen-actor mAP_macro=0.862 AP_micro=0.900 baseline_mAP_macro=0.168",
            "demo (MiniLM label queries, 4 epochs): unseen-actor mAP_macro=0.800 AP_micro=0.850",
        ],
    )
    def test_parse_rejects_other_lines(self, line):
        with pytest.raises(ValueError, match="Not a demo summary line"):
            parse_summary_line(line)

    @pytest.mark.parametrize(
        "values, name",
        [
            ((1.2, 0.5, 0.2, 1.0), "mAP_macro"),
            ((0.5, float("nan"), 0.2, 1.0), "AP_micro"),
            ((0.5, 0.5, 0.2, -1), "minutes"),
        ],
    )
    def test_format_rejects_bad_values(self, values, name):
        with pytest.raises(ValueError, match=name):
            format_summary_line(*values)


class TestArguments:
    def test_defaults(self):
        args = parse_args([])
        assert args.output_dir == "demo_output" and args.seed == 0
        assert args.num_frames == 8 and args.size == 32 and not args.no_text_encoder_variant
        assert args.text_encoder_epochs <= args.epochs

    @pytest.mark.parametrize(
        "argv, message",
        [
            (["--size", "33"], "--size must be even"),
            (["--num_frames", "1"], "--num_frames must be at least 2"),
            (["--epochs", "0"], "expected a positive integer"),
            (["--num_train", "many"], "expected a positive integer"),
            (["--learning_rate", "-1"], "expected a positive number"),
            (["--seed", "-3"], "expected an integer >= 0"),
            (["--weight_decay", "-0.1"], "expected a number >= 0"),
            (["--model_config", "missing.json"], "--model_config missing.json does not exist"),
            (["--text_model", "no_such_folder"], "--text_model no_such_folder is not a folder"),
        ],
    )
    def test_errors_name_the_argument(self, argv, message, capsys):
        with pytest.raises(SystemExit) as error:
            parse_args(argv)
        assert error.value.code == 2
        assert message in capsys.readouterr().err

    def test_text_variant_config_only_checked_when_used(self):
        args = parse_args(["--no_text_encoder_variant", "--text_model_config", "missing.json"])
        assert args.no_text_encoder_variant


class TestTrainingCommand:
    def test_command(self, tmp_path):
        args = parse_args(["--epochs", "3", "--batch_size", "8", "--learning_rate", "0.002", "--seed", "5"])
        command = train_command(
            args, model_config=DEMO_CONFIG, benchmark_dir=tmp_path, output_dir=tmp_path / "m", epochs=3
        )
        assert command[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
        assert command[command.index("--num_processes") + 1] == "1" and "--cpu" in command
        # The training module, not a script of the checkout: the command works from an installed package.
        script = command.index(TRAINING_MODULE)
        assert command[script - 1] == "-m" and not any(part.endswith(".py") for part in command)
        assert "--overwrite_output_dir" in command  # a rerun of the demo retrains into the same folders
        command = [part for part in command if part != "--overwrite_output_dir"]
        script = command.index(TRAINING_MODULE)
        flags = dict(zip(command[script + 1 :: 2], command[script + 2 :: 2]))
        assert flags["--model"] == str(DEMO_CONFIG)
        assert flags["--labels"] == str(tmp_path / "labels.json")
        assert flags["--train_manifest"] == str(tmp_path / "train.jsonl")
        assert flags["--eval_manifest"] == str(tmp_path / "test.jsonl")
        assert flags["--output_dir"] == str(tmp_path / "m")
        assert flags["--num_train_epochs"] == "3" and flags["--per_device_train_batch_size"] == "8"
        assert float(flags["--learning_rate"]) == 0.002 and flags["--seed"] == "5"
        assert json.loads(flags["--augmentation_kwargs"]) == DEMO_AUGMENTATION
        assert "--text_model" not in flags
        with_text = train_command(
            args,
            model_config=DEMO_TEXT_CONFIG,
            benchmark_dir=tmp_path,
            output_dir=tmp_path,
            epochs=1,
            text_model="minilm",
        )
        assert with_text[-2:] == ["--text_model", "minilm"]

    def test_no_flip_and_colours_kept(self):
        # A flipped clip "moving left" moves right; a grayscale one hides "changing colour".
        assert DEMO_AUGMENTATION["flip_probability"] == 0.0 and DEMO_AUGMENTATION["grayscale_probability"] == 0.0


class TestPresets:
    def test_demo_configs_build(self):
        config = MSQNetConfig.from_json_file(DEMO_CONFIG)
        assert config.num_frames == 8 and config.video_config.num_frames == 8
        assert config.video_config.image_size == 32 and not config.use_video_query and config.text_config is None
        text_config = MSQNetConfig.from_json_file(DEMO_TEXT_CONFIG)
        # The label queries come from MiniLM's mean-pooled 384-wide sentence embeddings.
        assert text_config.hidden_size == 384 and text_config.label_text_pooling == "mean"
        assert text_config.hidden_size % text_config.num_attention_heads == 0
