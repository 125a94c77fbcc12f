"""Benchmark: one MSQNet training step (forward, loss, backward, Adam) against the published computation.

For a full-size configuration (the default `MSQNetConfig()`: TimeSformer-base + CLIP ViT-B/16, 16 frames of 224 px,
140 labels) and a small one (ViT-S-like encoders at 112 px, 8 frames), with random weights and batch 1, it times the
paper's recipe (Adam, lr 1e-5, `BCEWithLogitsLoss`, CLIP image encoder frozen, dropout on) for:

- `reference`: `modeling_msqnet/conversion/official_reference.py::OfficialMSQNet` (the published forward,
  `nn.Transformer`), float32 and under `torch.autocast(bfloat16)`;
- `ours`: `MSQNetForVideoClassification`, float32 and `autocast_dtype="bfloat16"`, each with and without gradient
  checkpointing (`gradient_checkpointing_enable()`: TimeSformer layers, transformer encoder and decoder layers);
- `ours sdpa-video`: `video_attn_implementation="sdpa"`, with and without checkpointing (not run by default: on CPU
  the SDPA attention backward is no faster than the eager one).

Where the CPU has no native bfloat16 matmul (e.g. AVX2-only x86), bfloat16 is many times slower than float32 and is
timed on the small configuration only unless `--dtypes` asks for it.

Each variant runs in a fresh subprocess: build the model and optimizer, reset the peak resident size, run `--warmup`
steps (the first allocates Adam's states) and `--repeats` timed steps. Reported: median and minimum wall seconds per
step, CPU seconds per step (all threads), the speed-up over the float32 reference, the process's peak resident size
(`peak MB`, weights included) and its growth over the steps (`delta MB`: activations, gradients, Adam states), and what
checkpointing saves against the same variant without it. See `benchmark_utils` for how memory is measured.

Usage:
    python benchmarks/train_step.py                          # full and small, 1 warmup + 2 steps
    python benchmarks/train_step.py --configs small --repeats 3
    python benchmarks/train_step.py --configs full --variants "reference" "ours" --dtypes bfloat16 --output train.json
"""

import argparse
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
    build_reference,
    current_rss_mb,
    format_table,
    full_config,
    machine_summary,
    matmul_gflops,
    parse_args_or_run_worker,
    run_worker,
    small_config,
)
from tqdm.auto import tqdm  # noqa: E402


CONFIGS = {"full": (full_config, 16, 224), "small": (small_config, 8, 112)}
DTYPES = ("float32", "bfloat16")
# name -> (model, video attention, gradient checkpointing)
VARIANTS = {
    "reference": ("reference", None, False),
    "ours": ("ours", None, False),
    "ours + checkpointing": ("ours", None, True),
    "ours sdpa-video": ("ours", "sdpa", False),
    "ours sdpa-video + checkpointing": ("ours", "sdpa", True),
}
LEARNING_RATE = 1e-5


def enable_checkpointing(model):
    # `activation_checkpointing_enable` is the newer name of `gradient_checkpointing_enable` in transformers.
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable()
    else:
        model.gradient_checkpointing_enable()


def worker(payload):
    """Fresh process: build one variant, then time training steps and record the peak resident size."""
    from modeling_msqnet import MSQNetForVideoClassification

    make_config, num_frames, image_size = CONFIGS[payload["config"]]
    kind, video_attention, checkpointing = VARIANTS[payload["variant"]]
    bf16 = payload["dtype"] == "bfloat16"
    torch.manual_seed(0)
    rss_before_build = current_rss_mb()
    if kind == "reference":
        config = make_config(num_frames)
        model = build_reference(config)
        loss_fn = torch.nn.BCEWithLogitsLoss()

        def loss_of(pixel_values, labels):
            context = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
            with context:
                logits = model(pixel_values)
            return loss_fn(logits.float(), labels)

    else:
        config = make_config(
            num_frames, video_attn_implementation=video_attention, autocast_dtype="bfloat16" if bf16 else None
        )
        model = MSQNetForVideoClassification(config)
        if checkpointing:
            enable_checkpointing(model)

        def loss_of(pixel_values, labels):
            return model(pixel_values, labels=labels).loss

    model.train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LEARNING_RATE)
    num_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    weights_mb = current_rss_mb() - rss_before_build

    generator = torch.Generator().manual_seed(1)
    batch_size = payload["batch_size"]
    pixel_values = torch.randn(batch_size, num_frames, 3, image_size, image_size, generator=generator)
    labels = (torch.rand(batch_size, config.num_labels, generator=generator) < 0.05).float()

    wall, cpu, losses = [], [], []
    with PeakMemory() as memory:
        for step in range(payload["warmup"] + payload["repeats"]):
            start, start_cpu = time.perf_counter(), time.process_time()
            optimizer.zero_grad(set_to_none=True)
            loss = loss_of(pixel_values, labels)
            loss.backward()
            optimizer.step()
            elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
            losses.append(loss.item())
            if step >= payload["warmup"]:
                wall.append(elapsed)
                cpu.append(elapsed_cpu)
    print(
        json.dumps(
            {
                "median_s": statistics.median(wall),
                "min_s": min(wall),
                "cpu_s": statistics.median(cpu),
                "peak_mb": memory.peak_mb,
                "delta_mb": memory.delta_mb,
                "weights_mb": weights_mb,
                "peak_reset": memory.reset,
                "trainable_params_m": num_trainable / 1e6,
                "first_loss": losses[0],
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument(
        "--variants", nargs="+", choices=list(VARIANTS), default=["reference", "ours", "ours + checkpointing"]
    )
    parser.add_argument(
        "--dtypes",
        nargs="+",
        choices=DTYPES,
        default=None,
        help="default: both for the small config; bfloat16 for the full one only where this CPU's bfloat16 matmul "
        "rate is at least half its float32 rate",
    )
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="timed steps (median reported)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed steps first (the first allocates Adam's states)"
    )
    args = parse_args_or_run_worker(parser, worker, "torch.set_num_threads in the workers")
    if args is None:
        return

    variants = list(args.variants)
    if "reference" not in variants:
        variants.insert(0, "reference")
    print("machine:", machine_summary())
    rates = {dtype: matmul_gflops(getattr(torch, dtype)) for dtype in DTYPES}
    print("matmul GFLOP/s:", {dtype: round(rate, 1) for dtype, rate in rates.items()})
    dtypes = {config: list(args.dtypes or DTYPES) for config in args.configs}
    if args.dtypes is None and not bf16_worth_timing(rates) and "full" in dtypes:
        dtypes["full"] = ["float32"]
        print(
            f"note: bfloat16 matmuls run at {rates['bfloat16']:.1f} GFLOP/s here against {rates['float32']:.0f} for "
            "float32 (no native bfloat16 instructions): bfloat16 is timed on the small config only; pass "
            "`--dtypes float32 bfloat16` to force it on the full one."
        )
    jobs = [(config, variant, dtype) for config in args.configs for variant in variants for dtype in dtypes[config]]
    script = os.path.abspath(__file__)
    results = {}
    for config, variant, dtype in tqdm(jobs, desc="training-step variants", unit="variant"):
        payload = {
            "config": config,
            "variant": variant,
            "dtype": dtype,
            "batch_size": args.batch_size,
            "warmup": args.warmup,
            "repeats": args.repeats,
        }
        extra = ["--threads", str(args.threads)] if args.threads else []
        results[(config, variant, dtype)] = run_worker(script, payload, extra_args=extra)

    rows = []
    for (config, variant, dtype), result in results.items():
        row = {"config": config, "variant": variant, "dtype": dtype, **result}
        reference = results.get((config, "reference", "float32"))
        if reference:
            row["speedup_vs_ref_fp32"] = reference["median_s"] / result["median_s"]
            row["cpu_speedup_vs_ref_fp32"] = reference["cpu_s"] / result["cpu_s"]
        if VARIANTS[variant][2]:
            without = results.get((config, variant.replace(" + checkpointing", ""), dtype))
            if without:
                row["checkpointing_saves_mb"] = without["delta_mb"] - result["delta_mb"]
                row["checkpointing_time_cost"] = result["median_s"] / without["median_s"]
        rows.append(row)

    columns = [
        "config",
        "variant",
        "dtype",
        "median_s",
        "min_s",
        "cpu_s",
        "speedup_vs_ref_fp32",
        "cpu_speedup_vs_ref_fp32",
        "peak_mb",
        "delta_mb",
        "checkpointing_saves_mb",
        "checkpointing_time_cost",
        "first_loss",
    ]
    print()
    print(format_table(rows, columns))
    print()
    print(
        f"batch size {args.batch_size}, Adam lr {LEARNING_RATE}, {args.warmup} warmup + {args.repeats} timed steps; "
        f"load average at end {os.getloadavg()}. CPU s: process CPU time of all threads."
    )
    for config in args.configs:
        reference = results.get((config, "reference", "float32"))
        fast = results.get((config, "ours", "bfloat16"))
        if reference and fast:
            print(
                f"{config}: ours bfloat16 step vs float32 reference step: {reference['median_s'] / fast['median_s']:.2f}x "
                f"wall, {reference['cpu_s'] / fast['cpu_s']:.2f}x CPU time (target >= 2)"
            )
    if args.output:
        with open(args.output, "w") as handle:
            json.dump({"machine": machine_summary(), "args": vars(args), "rows": rows}, handle, indent=2, default=str)
        print(f"figures written to {args.output}")


if __name__ == "__main__":
    main()
