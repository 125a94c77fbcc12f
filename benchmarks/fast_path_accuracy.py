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
- `fast-static-float32`: fast-float32 + `static` (fixed cameras, no merging);
- `merge`: TimeSformer token merging (`video_token_merge_per_layer`/`_start_layer`, `--merge-per-layer`,
  `--merge-start-layer`);
- `static`: static TimeSformer patch positions left out (`video_static_patch_threshold`, `--static-threshold`; the
  share of positions left out, averaged over clips, is reported with the option);
- `int8`: `nn.Linear` weights in int8 (`precision.quantize_linear_int8`, dynamic quantisation);
- `preset`: what `configuration/models/msqnet-paper-fast.json` turns on, at this model's scale: bf16-weights +
  sdpa-video + query-Q + merge; `preset-float32`: the same in float32 (CPUs without native bfloat16);
  `preset-static-float32`: `preset-float32` + `static` (fixed cameras);
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
from typing import NamedTuple


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from benchmark_utils import format_table  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from modeling_msqnet import MSQNetForVideoClassification  # noqa: E402
from modeling_msqnet.data.manifest import read_manifest  # noqa: E402
from modeling_msqnet.hub_code.modeling_msqnet import scores_from_logits  # noqa: E402
from modeling_msqnet.hub_code.token_merging import num_static_positions_to_drop, patch_position_change  # noqa: E402
from modeling_msqnet.hub_code.video_decoding import read_frames  # noqa: E402
from modeling_msqnet.hub_code.video_processing_msqnet import MSQNetVideoProcessor  # noqa: E402


class Option(NamedTuple):
    """What an option turns on: weights (float32, bfloat16 or int8), video attention, autocast dtype, the query over
    fewer frames, token merging, static patch positions left out, `torch.compile`."""

    weights: str = "float32"
    video_attention: str | None = None
    autocast_dtype: str | None = None
    query: bool = False
    merge: bool = False
    static: bool = False
    compiled: bool = False

    @property
    def model_key(self):
        """Options that share a loaded model (autocast and the query are per call)."""
        return (self.weights, self.video_attention, self.merge, self.static)


OPTIONS = {
    "exact": Option(),
    "bf16-autocast": Option(autocast_dtype="bfloat16"),
    "bf16-weights": Option(weights="bfloat16"),
    "sdpa-video": Option(video_attention="sdpa"),
    "query": Option(query=True),
    "merge": Option(merge=True),
    "static": Option(static=True),
    "int8": Option(weights="int8"),
    "fast": Option(video_attention="sdpa", autocast_dtype="bfloat16", query=True),
    "fast-float32": Option(video_attention="sdpa", query=True),
    "fast-bf16-weights": Option(weights="bfloat16", video_attention="sdpa", query=True),
    "fast-static-float32": Option(video_attention="sdpa", query=True, static=True),
    "preset": Option(weights="bfloat16", video_attention="sdpa", query=True, merge=True),
    "preset-float32": Option(video_attention="sdpa", query=True, merge=True),
    "preset-static-float32": Option(video_attention="sdpa", query=True, merge=True, static=True),
    "compiled": Option(compiled=True),
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


def load_option_models(model_dir, options, merge_per_layer, merge_start_layer, static_threshold):
    """One loaded model per `Option.model_key` that the options need, and the compiled exact model if asked for."""
    from modeling_msqnet.precision import apply_dtype, quantize_linear_int8

    models = {}
    for option in options:
        settings = OPTIONS[option]
        if settings.model_key in models:
            continue
        model = MSQNetForVideoClassification.from_pretrained(
            model_dir,
            video_attn_implementation=settings.video_attention,
            autocast_dtype=None,
            query_num_frames=None,
            video_token_merge_per_layer=merge_per_layer if settings.merge else None,
            video_token_merge_start_layer=merge_start_layer if settings.merge else 0,
            video_static_patch_threshold=static_threshold if settings.static else None,
        ).eval()
        if settings.weights == "int8":
            model = quantize_linear_int8(model)
        else:
            model = apply_dtype(model, getattr(torch, settings.weights))
        models[settings.model_key] = model
    compiled_models = {}
    if any(OPTIONS[option].compiled for option in options):
        compiled_models[Option().model_key] = torch.compile(models[Option().model_key])
    return models, compiled_models


def static_fractions(model, pixel_values):
    """Per clip, the share of the patch positions the model's static-patch fast path leaves out (each clip its own)."""
    encoder = model.msqnet.video_model.encoder
    changes = patch_position_change(pixel_values, encoder.config.patch_size)
    return [
        num_static_positions_to_drop(
            change[None], encoder.static_patch_threshold, encoder.grid_width, encoder.min_kept_positions
        )
        / changes.shape[1]
        for change in changes
    ]


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
        default=[o for o in OPTIONS if not (OPTIONS[o].compiled or OPTIONS[o].merge or OPTIONS[o].static)],
    )
    parser.add_argument("--compile", action="store_true", help="also evaluate the `compiled` option")
    parser.add_argument("--query-num-frames", type=int, default=4)
    parser.add_argument("--merge-per-layer", type=int, default=None, help="`merge`/`preset`: positions per layer")
    parser.add_argument("--merge-start-layer", type=int, default=0, help="`merge`/`preset`: first merging layer")
    parser.add_argument(
        "--static-threshold", type=float, default=None, help="`static`/`preset-static-float32`: the patch threshold"
    )
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
    if any(OPTIONS[option].merge for option in options) and args.merge_per_layer is None:
        parser.error("the `merge` and `preset` options need --merge-per-layer")
    if any(OPTIONS[option].static for option in options) and args.static_threshold is None:
        parser.error("the `static` options need --static-threshold")
    models, compiled_models = load_option_models(
        args.model, options, args.merge_per_layer, args.merge_start_layer, args.static_threshold
    )
    processor = MSQNetVideoProcessor.from_pretrained(args.model)
    config = models[Option().model_key].config
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
    left_out = {option: [] for option in options if OPTIONS[option].static}
    with torch.inference_mode():
        for start in tqdm(range(0, len(entries), args.batch_size), desc="clips", unit="batch"):
            pixel_values = clip_pixel_values(processor, entries[start : start + args.batch_size], num_frames)
            for option in options:
                settings = OPTIONS[option]
                model = models[settings.model_key]
                runner = compiled_models[settings.model_key] if settings.compiled else model
                model.config.autocast_dtype = settings.autocast_dtype
                tick = time.perf_counter()
                query_num_frames = args.query_num_frames if settings.query else num_frames
                logits = runner(pixel_values, query_num_frames=query_num_frames).logits
                seconds[option] += time.perf_counter() - tick
                scores[option].append(scores_from_logits(logits.float(), config.problem_type).numpy())
                if settings.static:
                    left_out[option] += static_fractions(model, pixel_values)
    scores = {option: np.concatenate(batches) for option, batches in scores.items()}

    exact = scores["exact"]
    rows = []
    for option in options:
        name = option.replace("query", f"query-{args.query_num_frames}")
        if OPTIONS[option].merge:
            name += f" (merge {args.merge_per_layer}/layer from layer {args.merge_start_layer})"
        if OPTIONS[option].static:
            name += f" (static <= {args.static_threshold}: {np.mean(left_out[option]):.0%} of positions left out)"
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
