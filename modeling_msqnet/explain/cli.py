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
"""Command line of `examples/explain.py`: attention maps of one video, or (`tsne`) embedding maps of a manifest.

python examples/explain.py --model DIR --video FILE --output_dir OUT [--labels ...] [--top_k K] [--method rollout|gradient]
python examples/explain.py tsne --model DIR --manifest FILE --output_dir OUT [--max_videos N] [--k K]
"""

import argparse
import json
from pathlib import Path

from transformers.utils import logging

from ..command_line import non_negative_int, positive_int
from ..file_utils import atomic_output
from .attention_maps import METHODS, explain_video
from .figures import write_explanation


logger = logging.get_logger(__name__)


def load_model(model_dir):
    """A saved MSQNet classification model (eval mode) and its video processor."""
    from ..models import load_model_folder

    model, video_processor, _ = load_model_folder(model_dir)
    return model.eval(), video_processor


def _add_model_arguments(parser):
    parser.add_argument("--model", required=True, help="Saved MSQNet folder (config.json, weights, video processor).")
    parser.add_argument("--output_dir", required=True, help="Folder for the arrays and pictures.")


def build_attention_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="examples/explain.py",
        description="Per-label spatio-temporal attention maps of one video (MSQNet paper, Fig. 3). Writes "
        "attention_maps.npz (one (num_frames, height, width) array in [0, 1] per label), attention_grid.png, one "
        "attention_<label>.gif per label, backbone_rollout.npy and predictions.json. `examples/explain.py tsne -h` "
        "for embedding maps.",
    )
    _add_model_arguments(parser)
    parser.add_argument("--video", required=True, help="Video file or frame folder.")
    parser.add_argument("--labels", nargs="+", default=None, help="Label names to explain (default: the top-k).")
    parser.add_argument("--top_k", type=positive_int, default=5, help="Explain the k most probable labels.")
    parser.add_argument("--method", choices=METHODS, default="rollout", help="Attention rollout or gradient-weighted.")
    return parser


def build_tsne_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="examples/explain.py tsne",
        description="t-SNE of video embeddings before and after the decoder, coloured by label (MSQNet paper, "
        "Fig. 4), with k-NN label accuracy and silhouette. Writes embedding_tsne.png and embedding_scores.json.",
    )
    _add_model_arguments(parser)
    parser.add_argument("--manifest", required=True, help="Manifest (.jsonl) of labelled videos.")
    parser.add_argument("--max_videos", type=positive_int, default=1000, help="Use at most this many videos.")
    parser.add_argument("--batch_size", type=positive_int, default=16, help="Videos per forward pass.")
    parser.add_argument("--k", type=positive_int, default=10, help="Neighbours of the k-NN label accuracy.")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="Seed of t-SNE.")
    return parser


def explain_one_video(args) -> dict:
    """The attention command: explain `args.video` and write everything into `args.output_dir`."""
    if not Path(args.video).exists():
        raise FileNotFoundError(f"--video {args.video} does not exist.")
    model, video_processor = load_model(args.model)
    explanation = explain_video(
        model, video_processor, args.video, labels=args.labels, top_k=args.top_k, method=args.method
    )
    written = write_explanation(explanation, args.output_dir, title=f"{Path(args.video).name} ({args.method})")
    summary = {
        "video": str(Path(args.video).resolve()),
        "method": args.method,
        "labels": list(explanation.label_maps),
        "probabilities": explanation.probabilities,
        "animations": {name: Path(path).name for name, path in written["animations"].items()},
    }
    with atomic_output(Path(args.output_dir) / "predictions.json", ".json") as temporary:
        temporary.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return {"explanation": explanation, "written": written, "summary": summary}


def embedding_maps(args) -> dict:
    """The `tsne` command."""
    from .embeddings import write_embedding_maps

    model, video_processor = load_model(args.model)
    return write_embedding_maps(
        model,
        video_processor,
        args.manifest,
        args.output_dir,
        batch_size=args.batch_size,
        max_videos=args.max_videos,
        k=args.k,
        seed=args.seed,
    )


def main(argv=None) -> dict:
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "tsne":
        return embedding_maps(build_tsne_parser().parse_args(argv[1:]))
    return explain_one_video(build_attention_parser().parse_args(argv))


__all__ = ["build_attention_parser", "build_tsne_parser", "load_model", "main"]
