"""Benchmark: full-size MSQNet inference against the published computation (README), and the fast path.

For each frame count (8 and 16 by default) it builds, with random weights (seed 0), the paper's configuration (the
default `MSQNetConfig()`, 140 labels like Animal Kingdom, batch 1, 224 px):

- `reference`: `modeling_msqnet/conversion/official_reference.py::OfficialMSQNet`, the independent forward written
  from the README that the parity test uses (official parameter names, PyTorch's `nn.Transformer`);
- `timesformer`: the reference's `TimesformerModel` alone (the video encoder's share of the time);
- `ours exact`: `MSQNetForVideoClassification` with the reference's weights (converted), default config;
- `ours sdpa-video`: `video_attn_implementation="sdpa"` (TimeSformer attention through SDPA, same weights);
- `ours query Q/T`: the CLIP query encoder on Q evenly spaced frames (`query_num_frames`, default 4);
- `ours fast`: both of the above;
- `ours preset`: the options `configuration/models/msqnet-paper-fast.json` sets (SDPA, its `query_num_frames`,
  TimeSformer token merging);
- `ours fixed-camera preset`: `configuration/models/msqnet-paper-fast-fixed-camera.json` (SDPA, its
  `query_num_frames`, static patch positions left out, no merging); its cost depends on the clip, so
  `--static-fraction F` makes the top F of the timed clip's patch rows a still background (the same pixels in every
  frame; the rest random per frame, as in every other run);
- with `--compile` (or `--compile-only`): `torch.compile` (inductor) of `ours exact`, `ours fast` and `ours preset`;
  the first call's time (compilation) is reported.

Precisions (`--dtypes`, default `float32 auto`; `auto` is what `precision.resolve_dtype` picks on this machine):
ours in bfloat16 runs on a copy with bfloat16 weights and in int8 on a copy with int8 `nn.Linear` weights (the
commands' `precision.apply_dtype` and `precision.quantize_linear_int8`); the reference runs in float32 and, when
bfloat16 is timed, under `torch.autocast`. `--device cuda` times on a GPU (add `--no-memory`; no int8 there).
Timing: all variants of one frame count run round-robin in this process under
`torch.inference_mode()` (so a change of load on a shared machine hits them alike); the table gives the median and the
minimum wall time per clip over `--repeats` rounds after `--warmup` rounds, and the median process CPU time (all
threads; less sensitive than wall time to other processes on a shared machine, `--threads 1` makes it close to the
pure compute time).

FLOPs: `torch.utils.flop_counter.FlopCounterMode` (matmuls, convolutions, attention; 2 FLOPs per multiply-add) on one
forward of the same models built on the meta device (shapes only, no compute). Peak memory: one forward per variant in
a fresh subprocess per model (see `benchmark_utils` for the method):
`peak MB` is the process's peak resident size (weights included), `delta MB` its growth during the forward. The machine's matmul rates (float32
and bfloat16, GFLOP/s) are measured in the same run, before and after, and each variant's achieved GFLOP/s is given as
a share of them. Ours and the reference get the same weights; the max |logit difference| to the float32 reference
is printed as a check that the same computation is timed.

Usage:
    python benchmarks/inference.py                              # 8 and 16 frames, 3 repeats
    python benchmarks/inference.py --frames 16 --repeats 1      # quick run
    python benchmarks/inference.py --compile-only --frames 16 --dtypes bfloat16 --no-memory
    python benchmarks/inference.py --device cuda --dtypes float32 bfloat16 --compile --no-memory   # GPU rows
    python benchmarks/inference.py --output results.json
"""

import argparse
import contextlib
import copy
import json
import os
import statistics
import sys
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from benchmark_utils import (  # noqa: E402
    PeakMemory,
    bf16_worth_timing,
    build_ours_from_reference,
    build_reference,
    cpu_has_native_bf16,
    format_table,
    full_config,
    machine_summary,
    matmul_gflops,
    parse_args_or_run_worker,
    run_worker,
)
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402


DTYPES = ("float32", "bfloat16", "int8")
PRESET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configuration", "models")
PRESET_FILES = {
    "ours_preset": os.path.join(PRESET, "msqnet-paper-fast.json"),
    "ours_fixed_camera": os.path.join(PRESET, "msqnet-paper-fast-fixed-camera.json"),
}
# The config options of the fast presets that change the computation (their architecture is the paper's).
PRESET_OPTIONS = ("video_attn_implementation", "query_num_frames", "video_token_merge_per_layer",
                  "video_token_merge_start_layer", "video_static_patch_threshold")  # fmt: skip
# name -> model kind it runs on, whether the CLIP query uses `--query-num-frames` frames, compiled, dtypes it runs in.
VARIANTS = {
    "reference": dict(model="reference", dtypes=("float32", "bfloat16")),
    "timesformer": dict(model="timesformer", dtypes=("float32",)),
    "ours exact": dict(model="ours"),
    "ours sdpa-video": dict(model="ours_sdpa"),
    "ours query": dict(model="ours", query=True),
    "ours fast": dict(model="ours_sdpa", query=True),
    "ours preset": dict(model="ours_preset"),
    "ours fixed-camera preset": dict(model="ours_fixed_camera"),
    "ours exact compiled": dict(model="ours", compiled=True, dtypes=("float32", "bfloat16")),
    "ours fast compiled": dict(model="ours_sdpa", query=True, compiled=True, dtypes=("float32", "bfloat16")),
    "ours preset compiled": dict(model="ours_preset", compiled=True, dtypes=("float32", "bfloat16")),
}
EAGER_VARIANTS = [name for name, spec in VARIANTS.items() if not spec.get("compiled")]
COMPILED_VARIANTS = [name for name, spec in VARIANTS.items() if spec.get("compiled")]
MODEL_KINDS = ("reference", "ours", "ours_sdpa", "ours_preset", "ours_fixed_camera")
# Where the timed forwards run (`--device`); the FLOP count runs on the meta device, the memory workers on the CPU.
DEVICE = torch.device("cpu")
BATCH_SIZE = 1  # clips per timed forward (`--batch-size`)
STILL_FRACTION = 0.0  # share of the timed clip's patch rows that are a still background (`--static-fraction`)


def preset_options(path):
    """The fast options a preset of `configuration/models/` sets (see `PRESET_OPTIONS`)."""
    with open(path, encoding="utf-8") as handle:
        preset = json.load(handle)
    return {name: preset[name] for name in PRESET_OPTIONS if preset.get(name) is not None}


def runs_in(variant, dtype):
    return dtype in VARIANTS[variant].get("dtypes", DTYPES)


def resolve_dtypes(names, device="cpu"):
    """`--dtypes` names to the timed ones: `auto` is what `precision.resolve_dtype` picks on this CPU."""
    from modeling_msqnet.precision import resolve_dtype

    resolved = [str(resolve_dtype(name, device)).removeprefix("torch.") if name == "auto" else name for name in names]
    return list(dict.fromkeys(resolved))


def make_call(models, variant, dtype, query_num_frames, compiled_models=None):
    """
    A callable `pixel_values -> logits` (or the TimeSformer's last hidden state) running `variant` in `dtype`: the
    reference under `torch.autocast` for bfloat16; ours on its bfloat16 or int8 copy (`models[(kind, dtype)]`, what the
    commands run: `precision.apply_dtype`, `precision.quantize_linear_int8`).
    """
    spec = VARIANTS[variant]
    kind = spec["model"]
    if kind in ("reference", "timesformer"):
        model = models[kind]

        def call(pixel_values):
            context = (
                torch.autocast(DEVICE.type, dtype=torch.bfloat16) if dtype == "bfloat16" else contextlib.nullcontext()
            )
            with context:
                output = model(pixel_values)
            return output if kind == "reference" else output.last_hidden_state

        return call

    key = kind if dtype == "float32" else (kind, dtype)
    model = compiled_models[key] if spec.get("compiled") else models[key]
    query = query_num_frames if spec.get("query") else None

    def call(pixel_values):
        return model(pixel_values, query_num_frames=query).logits

    return call


def build_model(kind, num_frames, num_labels, reference=None, ours=None):
    """One model of `MODEL_KINDS`; ours get the reference's weights when it is given (shared tensors where possible)."""
    from modeling_msqnet import MSQNetForVideoClassification

    if kind == "reference":
        return build_reference(full_config(num_frames, num_labels)).eval()
    if kind == "ours":
        if reference is not None:
            return build_ours_from_reference(full_config(num_frames, num_labels), reference).eval()
        return MSQNetForVideoClassification(full_config(num_frames, num_labels)).eval()
    options = preset_options(PRESET_FILES[kind]) if kind in PRESET_FILES else {"video_attn_implementation": "sdpa"}
    model = MSQNetForVideoClassification(full_config(num_frames, num_labels, **options))
    if ours is not None:
        # `assign=True` shares the parameter tensors with `ours` (no second copy of the weights).
        model.load_state_dict(ours.state_dict(), assign=True)
    return model.eval()


def add_dtype_copies(models, kinds, dtypes):
    """
    Ours in bfloat16 (weights cast once through `precision.apply_dtype`, the tensors shared between the kinds, which
    hold the same weights) and in int8 (`precision.quantize_linear_int8`, one quantised copy per kind).
    """
    from modeling_msqnet.precision import apply_dtype, quantize_linear_int8

    ours_kinds = [kind for kind in MODEL_KINDS if kind in kinds and kind.startswith("ours")]
    if "bfloat16" in dtypes:
        shared = None
        for kind in ours_kinds:
            if shared is None:
                shared = models[(kind, "bfloat16")] = apply_dtype(copy.deepcopy(models[kind]), torch.bfloat16)
            else:
                models[(kind, "bfloat16")] = build_kind_like(models[kind], shared)
    if "int8" in dtypes:
        for kind in ours_kinds:
            models[(kind, "int8")] = quantize_linear_int8(models[kind])
    return models


def build_kind_like(model, weights_from):
    """A copy of `model`'s architecture sharing the tensors of `weights_from` (same keys, e.g. another dtype)."""
    twin = copy.deepcopy(model)
    twin.load_state_dict(weights_from.state_dict(), assign=True)
    return twin.eval()


def build_models(num_frames, num_labels, kinds, dtypes=("float32",), seed=0):
    """The models of one frame count: the reference (and its TimeSformer) and ours with the reference's weights."""
    torch.manual_seed(seed)
    reference = build_model("reference", num_frames, num_labels)
    models = {"reference": reference, "timesformer": reference.backbone}
    if kinds - {"reference", "timesformer"}:
        models["ours"] = build_model("ours", num_frames, num_labels, reference=reference)
    for kind in ("ours_sdpa", *PRESET_FILES):
        if kind in kinds:
            models[kind] = build_model(kind, num_frames, num_labels, ours=models["ours"])
    return add_dtype_copies(models, kinds, dtypes)


def timed_clip(num_frames):
    """
    The clip every variant is timed on: random frames (seed 1), the top `STILL_FRACTION` of their 16-pixel patch rows a
    still background (frame 0's pixels in every frame).
    """
    pixel_values = torch.randn(BATCH_SIZE, num_frames, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    still_rows = round(STILL_FRACTION * 224 / 16) * 16
    pixel_values[:, :, :, :still_rows] = pixel_values[:, :1, :, :still_rows]
    return pixel_values


def count_gflops(num_frames, num_labels, keys, query_num_frames):
    """
    FLOPs (GFLOP) of one forward of each (variant, dtype), counted on meta tensors: no compute, no memory. Autocast
    does not change the operations (and has no meta device), so each variant is counted without it. Leaving static
    patches out depends on the pixels, so that variant is counted on the CPU, on the timed clip, with the math attention
    kernel (the counter does not see the CPU's fused attention kernel).
    """
    gflop = {}
    for device in ("meta", "cpu"):
        device_keys = [key for key in keys if (VARIANTS[key[0]]["model"] == "ours_fixed_camera") == (device == "cpu")]
        if not device_keys:
            continue
        math_attention = sdpa_kernel([SDPBackend.MATH]) if device == "cpu" else contextlib.nullcontext()
        with torch.device(device), math_attention:
            models = build_models(num_frames, num_labels, {VARIANTS[variant]["model"] for variant, _ in device_keys})
            pixel_values = (
                timed_clip(num_frames) if device == "cpu" else torch.empty(BATCH_SIZE, num_frames, 3, 224, 224)
            )
            for variant, dtype in device_keys:
                call = make_call(models, variant, "float32", query_num_frames)
                with torch.inference_mode(), FlopCounterMode(display=False) as counter:
                    call(pixel_values)
                gflop[f"{variant.replace(' compiled', '')}|{dtype}"] = counter.get_total_flops() / 1e9
        del models
    return gflop


def memory_worker(payload):
    """Fresh process: build one model kind, then per variant one measured forward (peak resident size)."""
    from benchmark_utils import current_rss_mb

    torch.manual_seed(0)
    num_frames = payload["frames"]
    global STILL_FRACTION
    STILL_FRACTION = payload["still_fraction"]
    rss_before_build = current_rss_mb()
    model = build_model(payload["kind"], num_frames, payload["num_labels"])
    models = {payload["kind"]: model}
    if payload["kind"] == "reference":
        models["timesformer"] = model.backbone
    add_dtype_copies(models, {payload["kind"]}, {dtype for _, dtype in payload["variants"]})
    weights_mb = current_rss_mb() - rss_before_build
    pixel_values = timed_clip(num_frames)

    results = {}
    for variant, dtype in payload["variants"]:
        call = make_call(models, variant, dtype, payload["query_num_frames"])
        with torch.inference_mode():
            with PeakMemory() as memory:
                call(pixel_values)
        results[f"{variant}|{dtype}"] = {
            "peak_mb": memory.peak_mb,
            "delta_mb": memory.delta_mb,
            "weights_mb": weights_mb,
            "peak_reset": memory.reset,
        }
    print(json.dumps(results))


def time_variants(models, keys, query_num_frames, num_frames, warmup, repeats):
    """Round-robin timing of every (variant, dtype) in `keys`; returns timings and the first call's logits."""
    compiled_models = {}
    for variant, dtype in keys:
        if VARIANTS[variant].get("compiled"):
            key = VARIANTS[variant]["model"] if dtype == "float32" else (VARIANTS[variant]["model"], dtype)
            compiled_models[key] = compiled_models.get(key) or torch.compile(models[key])
    pixel_values = timed_clip(num_frames).to(DEVICE)
    calls = {key: make_call(models, *key, query_num_frames, compiled_models) for key in keys}
    wall = {key: [] for key in calls}
    cpu = {key: [] for key in calls}
    first_call, logits = {}, {}
    with torch.inference_mode():
        for round_index in tqdm(range(warmup + repeats), desc=f"{num_frames} frames: timing rounds", unit="round"):
            for key, call in calls.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                output = call(pixel_values)
                if DEVICE.type == "cuda":
                    torch.cuda.synchronize()
                elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
                if round_index == 0:
                    first_call[key] = elapsed
                    logits[key] = output.float().cpu() if output.dim() == 2 else None
                if round_index >= warmup:
                    wall[key].append(elapsed)
                    cpu[key].append(elapsed_cpu)
    timings = {
        key: {
            "median_ms": 1000 * statistics.median(wall[key]),
            "min_ms": 1000 * min(wall[key]),
            "cpu_ms": 1000 * statistics.median(cpu[key]),
            "first_call_s": first_call[key],
        }
        for key in calls
    }
    return timings, logits


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[8, 16])
    parser.add_argument(
        "--dtypes",
        nargs="+",
        choices=("auto", *DTYPES),
        default=["float32", "auto"],
        help="precisions of ours (bfloat16: weights cast, as the commands run it; int8: dynamic int8 Linear weights); "
        "auto: bfloat16 where this CPU computes it natively, else float32 (precision.resolve_dtype). The reference "
        "runs in float32 (and under bfloat16 autocast when bfloat16 is timed)",
    )
    parser.add_argument("--variants", nargs="+", choices=EAGER_VARIANTS, default=EAGER_VARIANTS)
    parser.add_argument("--query-num-frames", type=int, default=4, help="frames for the CLIP query (fast path)")
    parser.add_argument("--num-labels", type=int, default=140)
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd versions of ours")
    parser.add_argument("--compile-only", action="store_true", help="time only the reference and compiled variants")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak memory subprocesses")
    parser.add_argument("--batch-size", type=int, default=1, help="clips per forward (times and GFLOP per batch)")
    parser.add_argument("--device", default="cpu", help="where the timed forwards run: cpu or cuda (GPU rows)")
    parser.add_argument(
        "--static-fraction",
        type=float,
        default=0.0,
        help="share of the timed clip's patch rows that are a still background",
    )
    args = parse_args_or_run_worker(parser, memory_worker, "torch.set_num_threads (default: torch's own)")
    if args is None:
        return

    variants = list(args.variants)
    if args.compile_only:
        variants = ["reference"]
    if args.compile or args.compile_only:
        selected = {VARIANTS[name]["model"] for name in args.variants}
        variants += [name for name in COMPILED_VARIANTS if VARIANTS[name]["model"] in selected]
    if "reference" not in variants:
        variants.insert(0, "reference")

    print("machine:", machine_summary())
    global DEVICE, BATCH_SIZE, STILL_FRACTION
    DEVICE, BATCH_SIZE = torch.device(args.device), args.batch_size
    if not 0 <= args.static_fraction <= 1:
        parser.error(f"--static-fraction must be between 0 and 1, got {args.static_fraction}")
    STILL_FRACTION = args.static_fraction
    if DEVICE.type != "cpu" and "int8" in args.dtypes:
        parser.error("--dtypes int8 (PyTorch dynamic quantisation) runs on the CPU only")
    if DEVICE.type != "cpu" and not args.no_memory:
        parser.error("the peak memory workers measure CPU memory: add --no-memory with --device cuda")
    args.dtypes = resolve_dtypes(args.dtypes, DEVICE)
    print("timed precisions:", args.dtypes, f"(CPU has native bfloat16: {cpu_has_native_bf16()})")
    peaks_before = {dtype: matmul_gflops(dtype, DEVICE) for dtype in DTYPES if DEVICE.type == "cpu" or dtype != "int8"}
    print("matmul GFLOP/s before:", {dtype: round(rate, 1) for dtype, rate in peaks_before.items()})
    if "bfloat16" in args.dtypes and not bf16_worth_timing(peaks_before):
        print(
            f"note: bfloat16 matmuls run at {peaks_before['bfloat16']:.1f} GFLOP/s here against "
            f"{peaks_before['float32']:.0f} for float32 (no native bfloat16 instructions): a slow path on this CPU."
        )
    keys = [(variant, dtype) for variant in variants for dtype in args.dtypes if runs_in(variant, dtype)]

    rows, checks = [], []
    all_results = {
        "machine": machine_summary(),
        "args": vars(args),
        "matmul_gflops_before": peaks_before,
        "rows": rows,
    }
    for num_frames in args.frames:
        # A compiled variant computes what its eager variant computes.
        eager_keys = list(dict.fromkeys((variant.replace(" compiled", ""), dtype) for variant, dtype in keys))
        gflops = count_gflops(num_frames, args.num_labels, eager_keys, args.query_num_frames)
        memory = {}
        if not args.no_memory:
            per_kind = {}
            for variant, dtype in keys:
                if VARIANTS[variant].get("compiled"):
                    continue
                kind = VARIANTS[variant]["model"]
                per_kind.setdefault("reference" if kind == "timesformer" else kind, []).append([variant, dtype])
            for kind, kind_keys in tqdm(per_kind.items(), desc=f"{num_frames} frames: peak memory", unit="model"):
                payload = {
                    "kind": kind,
                    "frames": num_frames,
                    "num_labels": args.num_labels,
                    "query_num_frames": args.query_num_frames,
                    "still_fraction": STILL_FRACTION,
                    "variants": kind_keys,
                }
                extra = ["--threads", str(args.threads)] if args.threads else []
                memory.update(run_worker(os.path.abspath(__file__), payload, extra_args=extra))

        kinds = {VARIANTS[variant]["model"] for variant in variants}
        models = build_models(num_frames, args.num_labels, kinds, dtypes=args.dtypes)
        for model in models.values():
            model.to(DEVICE)
        timings, logits = time_variants(models, keys, args.query_num_frames, num_frames, args.warmup, args.repeats)
        del models

        reference_fp32 = timings.get(("reference", "float32"))
        reference_logits = logits.get(("reference", "float32"))
        for (variant, dtype), timing in timings.items():
            stats = dict(memory.get(f"{variant.replace(' compiled', '')}|{dtype}", {}))
            if f"{variant.replace(' compiled', '')}|{dtype}" in gflops:
                stats["gflop"] = gflops[f"{variant.replace(' compiled', '')}|{dtype}"]
            reference_same = timings.get(("reference", dtype))
            row = {
                "frames": num_frames,
                "variant": variant.replace("query", f"query {args.query_num_frames}/{num_frames}"),
                "dtype": dtype,
                **timing,
                **stats,
            }
            if reference_fp32:
                row["speedup_vs_ref_fp32"] = reference_fp32["median_ms"] / timing["median_ms"]
                row["cpu_speedup_vs_ref_fp32"] = reference_fp32["cpu_ms"] / timing["cpu_ms"]
            if reference_same:
                row["ratio_to_ref_same_dtype"] = timing["median_ms"] / reference_same["median_ms"]
            if "gflop" in stats:
                achieved = stats["gflop"] / (timing["median_ms"] / 1000)
                row["gflops"] = achieved
                row["pct_of_dtype_peak"] = 100 * achieved / peaks_before[dtype]
                row["pct_of_fp32_peak"] = 100 * achieved / peaks_before["float32"]
            if reference_logits is not None and logits.get((variant, dtype)) is not None:
                row["max_abs_logit_diff_vs_ref_fp32"] = (
                    (logits[(variant, dtype)] - reference_logits).abs().max().item()
                )
            if VARIANTS[variant].get("compiled"):
                row["compile_s"] = timing["first_call_s"]
            rows.append(row)

        exact = timings.get(("ours exact", "float32"))
        if exact and reference_fp32:
            line = (
                f"{num_frames} frames: ours exact / reference, float32: wall time ratio "
                f"{exact['median_ms'] / reference_fp32['median_ms']:.3f}, CPU time ratio "
                f"{exact['cpu_ms'] / reference_fp32['cpu_ms']:.3f} (target <= 1.05)"
            )
            ours_memory, reference_memory = memory.get("ours exact|float32"), memory.get("reference|float32")
            if ours_memory and reference_memory:
                line += (
                    f"; peak RSS {ours_memory['peak_mb']:.0f} vs {reference_memory['peak_mb']:.0f} MB, forward delta "
                    f"{ours_memory['delta_mb']:.0f} vs {reference_memory['delta_mb']:.0f} MB"
                )
            checks.append(line)
        for variant in ("ours fast", "ours preset", "ours fast compiled", "ours preset compiled"):
            for dtype in DTYPES:
                fast = timings.get((variant, dtype))
                if fast and reference_fp32:
                    checks.append(
                        f"{num_frames} frames: {variant} ({dtype}) vs the float32 reference: "
                        f"{reference_fp32['median_ms'] / fast['median_ms']:.2f}x wall, "
                        f"{reference_fp32['cpu_ms'] / fast['cpu_ms']:.2f}x CPU time (goal: preset >= 4x in bfloat16 on "
                        "a CPU with native bfloat16, >= 2x in float32 on one without)"
                    )

    peaks_after = {dtype: matmul_gflops(dtype, DEVICE) for dtype in DTYPES if DEVICE.type == "cpu" or dtype != "int8"}
    all_results["matmul_gflops_after"] = peaks_after
    all_results["load_average_end"] = os.getloadavg()
    columns = [
        "frames",
        "variant",
        "dtype",
        "median_ms",
        "min_ms",
        "cpu_ms",
        "speedup_vs_ref_fp32",
        "cpu_speedup_vs_ref_fp32",
        "ratio_to_ref_same_dtype",
        "gflop",
        "gflops",
        "pct_of_dtype_peak",
        "pct_of_fp32_peak",
        "peak_mb",
        "delta_mb",
        "max_abs_logit_diff_vs_ref_fp32",
        "compile_s",
    ]
    print()
    print(format_table(rows, columns))
    print()
    print(
        "matmul GFLOP/s before/after: "
        + ", ".join(f"{dtype} {peaks_before[dtype]:.1f}/{peaks_after[dtype]:.1f}" for dtype in peaks_before)
        + f"; torch threads {torch.get_num_threads()}; load average at end {os.getloadavg()}"
    )
    print(
        "CPU ms: process CPU time of all threads (less sensitive to other processes than wall time); "
        "% dtype mm / % fp32 mm: achieved GFLOP/s over this machine's bfloat16 or float32 matmul rate."
    )
    if any(not row.get("peak_reset", True) for row in rows):
        print("note: the peak RSS could not be reset here, so the deltas are lower bounds")
    for line in checks:
        print(line)
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(all_results, handle, indent=2, default=str)
        print(f"figures written to {args.output}")


if __name__ == "__main__":
    main()
