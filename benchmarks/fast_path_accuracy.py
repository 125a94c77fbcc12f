"""Benchmark: what each fast-path option costs in accuracy, on a trained MSQNet and a test manifest.

Every clip of the manifest is decoded once (with the model folder's `MSQNetVideoProcessor`) and scored by each option:

- `exact`: the default (float32, transformers' TimeSformer attention, CLIP query over all frames);
- `bf16-autocast`: `config.autocast_dtype="bfloat16"` (float32 weights, bfloat16 compute);
- `bf16-weights`: the model loaded with `dtype=torch.bfloat16`;
- `sdpa-video`: `video_attn_implementation="sdpa"`;
- `query-Q`: the CLIP query over Q evenly spaced frames (`query_num_frames`, `--query-num-frames`, default 4);
- `fast`: bf16-autocast + sdpa-video + query-Q;
- `fast-float32`: sdpa-video + query-Q in float32 (the fast path of CPUs without native bfloat16);
- `fast-bf16-weights`: bf16-weights + sdpa-video + query-Q;
- `merge`: TimeSformer token merging (`video_token_merge_per_layer`/`_start_layer`, `--merge-per-layer`,
  `--merge-start-layer`);
- `int8`: `nn.Linear` weights in int8 (`precision.quantize_linear_int8`, dynamic quantisation);
- `preset`: what `configuration/models/msqnet-paper-fast.json` turns on, at this model's scale: bf16-weights +
  sdpa-video + query-Q + merge; `preset-float32`: the same in float32 (CPUs without native bfloat16);
- `compiled` (with `--compile`): `torch.compile` of the exact model.

For multi-label models it reports macro mAP (average precision per class over the whole set, classes without a
positive left out, then the mean; the datasets' standard) and micro AP ("official-code compatible"), and their change
from `exact`; for single-label models, top-1 accuracy. Also: the largest change of a score (sigmoid or softmax
probability) from `exact`, the share of clips whose top-scored label is unchanged, and the forward seconds per clip
(indicative only, compilation included for `compiled`; `benchmarks/inference.py` is the speed benchmark). Labels are
checked against the model's `label2id` (an unknown name is an error naming the manifest line).

Usage:
    python benchmarks/fast_path_accuracy.py --model_dir runs/synthetic/best --manifest data/synthetic/test.jsonl
    python benchmarks/fast_path_accuracy.py --model_dir DIR --manifest TEST.jsonl --options exact fast --limit 50 \\
        --output accuracy.json
"""

import argparse
import json
import os
import sys
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from benchmark_utils import format_table  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from modeling_msqnet import MSQNetForVideoClassification  # noqa: E402
from modeling_msqnet.data.manifest import read_manifest  # noqa: E402
from modeling_msqnet.hub_code.modeling_msqnet import scores_from_logits  # noqa: E402
from modeling_msqnet.hub_code.video_decoding import read_frames  # noqa: E402
from modeling_msqnet.hub_code.video_processing_msqnet import MSQNetVideoProcessor  # noqa: E402


# option -> (weights: float32, bfloat16 or int8; video attention; autocast dtype; query subset; token merging; compiled)
OPTIONS = {
    "exact": ("float32", None, None, False, False, False),
    "bf16-autocast": ("float32", None, "bfloat16", False, False, False),
    "bf16-weights": ("bfloat16", None, None, False, False, False),
    "sdpa-video": ("float32", "sdpa", None, False, False, False),
    "query": ("float32", None, None, True, False, False),
    "merge": ("float32", None, None, False, True, False),
    "int8": ("int8", None, None, False, False, False),
    "fast": ("float32", "sdpa", "bfloat16", True, False, False),
    "fast-float32": ("float32", "sdpa", None, True, False, False),
    "fast-bf16-weights": ("bfloat16", "sdpa", None, True, False, False),
    "preset": ("bfloat16", "sdpa", None, True, True, False),
    "preset-float32": ("float32", "sdpa", None, True, True, False),
    "compiled": ("float32", None, None, False, False, True),
}


def macro_and_micro_ap(scores, targets):
    """Macro mAP (classes without a positive left out) and micro AP; the package's metric when it is installed."""
    try:
        from modeling_msqnet.metrics import multilabel_average_precision
    except ImportError:
        from sklearn.metrics import average_precision_score

        keep = targets.sum(axis=0) > 0
        macro = float(np.mean([average_precision_score(targets[:, i], scores[:, i]) for i in np.flatnonzero(keep)]))
        micro = float(average_precision_score(targets.ravel(), scores.ravel()))
        return {"mAP_macro": macro, "AP_micro": micro, "num_classes_evaluated": int(keep.sum())}
    result = multilabel_average_precision(scores, targets)
    return {key: result[key] for key in ("mAP_macro", "AP_micro", "num_classes_evaluated")}


def load_option_models(model_dir, options, merge_per_layer, merge_start_layer):
    """One loaded model per (weights, video attention, token merging) that the options need."""
    from modeling_msqnet.precision import apply_dtype, quantize_linear_int8

    models = {}
    for option in options:
        weights, video_attention, _, _, merge, _ = OPTIONS[option]
        key = (weights, video_attention, merge)
        if key not in models:
            model = MSQNetForVideoClassification.from_pretrained(
                model_dir,
                video_attn_implementation=video_attention,
                autocast_dtype=None,
                query_num_frames=None,
                video_token_merge_per_layer=merge_per_layer if merge else None,
                video_token_merge_start_layer=merge_start_layer if merge else 0,
            ).eval()
            if weights == "int8":
                model = quantize_linear_int8(model)
            models[key] = apply_dtype(model, getattr(torch, weights)) if weights != "int8" else model
    compiled_models = {}
    if any(OPTIONS[option][5] for option in options):
        compiled_models[("float32", None, False)] = torch.compile(models[("float32", None, False)])
    return models, compiled_models


def clip_pixel_values(processor, entries, num_frames):
    """`(B, T, 3, H, W)` test-time frames of a batch of manifest entries (videos, frame folders, `start`/`end` clips)."""
    videos = [
        read_frames(entry["video"], num_frames, start=entry["start"], end=entry["end"], folder_fps=entry["fps"])[0]
        for entry in entries
    ]
    return processor(videos, do_sample_frames=False, return_tensors="pt")["pixel_values"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model_dir", "--model", dest="model", required=True, help="saved MSQNet folder (model and video processor)"
    )
    parser.add_argument("--manifest", required=True, help="JSON Lines test manifest: {'video': ..., 'labels': [...]}")
    parser.add_argument(
        "--options",
        nargs="+",
        choices=list(OPTIONS),
        default=[o for o in OPTIONS if o not in ("compiled", "merge", "preset", "preset-float32")],
    )
    parser.add_argument("--compile", action="store_true", help="also evaluate the `compiled` option")
    parser.add_argument("--query-num-frames", type=int, default=4)
    parser.add_argument("--merge-per-layer", type=int, default=None, help="`merge`/`preset`: positions per layer")
    parser.add_argument("--merge-start-layer", type=int, default=0, help="`merge`/`preset`: first merging layer")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N clips")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--output", default=None, help="write the figures to this JSON file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be >= 1, got {args.limit}")
    if not os.path.isdir(args.model):
        parser.error(
            f"--model {args.model!r} is not a folder (expected a saved MSQNet model with its video processor)"
        )

    options = list(dict.fromkeys(["exact", *args.options, *(["compiled"] if args.compile else [])]))
    if any(OPTIONS[option][4] for option in options) and args.merge_per_layer is None:
        parser.error("the `merge` and `preset` options need --merge-per-layer")
    models, compiled_models = load_option_models(args.model, options, args.merge_per_layer, args.merge_start_layer)
    processor = MSQNetVideoProcessor.from_pretrained(args.model)
    config = models[("float32", None, False)].config
    num_frames = config.num_frames
    if not 1 <= args.query_num_frames <= num_frames:
        parser.error(f"--query-num-frames must be between 1 and the model's num_frames ({num_frames})")
    if processor.num_frames != num_frames:
        raise ValueError(
            f"The video processor of {args.model} samples {processor.num_frames} frames but the model expects "
            f"{num_frames}."
        )
    single_label = config.problem_type == "single_label_classification"

    entries = read_manifest(args.manifest, config.label2id, problem_type=config.problem_type, check_files=True)
    if args.limit is not None:
        entries = entries[: args.limit]
    num_labels = config.num_labels
    targets = np.zeros((len(entries), num_labels), dtype=np.int64)
    for row, entry in enumerate(entries):
        targets[row, entry["label_ids"]] = 1

    scores = {option: [] for option in options}
    seconds = dict.fromkeys(options, 0.0)
    with torch.inference_mode():
        for start in tqdm(range(0, len(entries), args.batch_size), desc="clips", unit="batch"):
            pixel_values = clip_pixel_values(processor, entries[start : start + args.batch_size], num_frames)
            for option in options:
                weights, video_attention, autocast_dtype, use_query, merge, compiled = OPTIONS[option]
                model = models[(weights, video_attention, merge)]
                runner = compiled_models[(weights, video_attention, merge)] if compiled else model
                model.config.autocast_dtype = autocast_dtype
                tick = time.perf_counter()
                query_num_frames = args.query_num_frames if use_query else num_frames
                logits = runner(pixel_values, query_num_frames=query_num_frames).logits
                seconds[option] += time.perf_counter() - tick
                scores[option].append(scores_from_logits(logits.float(), config.problem_type).numpy())
    scores = {option: np.concatenate(batches) for option, batches in scores.items()}

    exact = scores["exact"]
    rows = []
    for option in options:
        name = option.replace("query", f"query-{args.query_num_frames}")
        if OPTIONS[option][4]:
            name += f" (merge {args.merge_per_layer}/layer from layer {args.merge_start_layer})"
        row = {
            "option": name,
            "max_abs_score_change": float(np.abs(scores[option] - exact).max()),
            "top1_unchanged": float(np.mean(scores[option].argmax(1) == exact.argmax(1))),
            "seconds_per_clip": seconds[option] / len(entries),
        }
        if single_label:
            row["top1_accuracy"] = float(np.mean(targets[np.arange(len(entries)), scores[option].argmax(1)]))
        else:
            row.update(macro_and_micro_ap(scores[option], targets))
        rows.append(row)
    metric = "top1_accuracy" if single_label else "mAP_macro"
    for row in rows:
        row[f"{metric}_drop"] = rows[0][metric] - row[metric]
        if not single_label:
            row["AP_micro_drop"] = rows[0]["AP_micro"] - row["AP_micro"]

    columns = ["option", metric, f"{metric}_drop"]
    if not single_label:
        columns += ["AP_micro", "AP_micro_drop"]
    columns += ["max_abs_score_change", "top1_unchanged", "seconds_per_clip"]
    print(f"{len(entries)} clips of {args.manifest}, model {args.model} ({num_labels} labels, {num_frames} frames)")
    if not single_label:
        print(f"classes with a positive (evaluated by mAP_macro): {rows[0]['num_classes_evaluated']} of {num_labels}")
    print(format_table(rows, columns))
    print("s/clip: forward time only, indicative (the `compiled` option includes its compilations).")
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(
                {"model": args.model, "manifest": args.manifest, "num_clips": len(entries), "rows": rows},
                handle,
                indent=2,
            )
        print(f"figures written to {args.output}")


if __name__ == "__main__":
    main()
