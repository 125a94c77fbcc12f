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
"""The demo's explanation step: attention grids of a few unseen-actor test clips and the t-SNE of the test split."""

import importlib.util
from pathlib import Path

from transformers.utils import logging

from ..explain.attention_maps import METHODS, explain_video
from ..explain.cli import load_model
from ..explain.figures import plot_attention_grid


logger = logging.get_logger(__name__)


def write_demo_explanations(
    model_dir, benchmark_dir, output_dir, num_clips: int = 3, top_k: int = 3, max_videos: int | None = None
) -> dict:
    """
    For the first `num_clips` clips of `benchmark_dir/test.jsonl` (actors training never showed), write the attention
    grid of the `top_k` predicted labels with each method (`attention_<clip>_<method>.png`), then the embedding maps of
    the test split (`embedding_tsne.png`, `embedding_scores.json`), all into `output_dir`.

    Returns:
        `dict`: `attention_grids` (paths) and `embedding` (the scores of [`write_embedding_maps`]; `None` without
        scikit-learn, which the embedding maps need).
    """
    from ..data.manifest import read_manifest
    from ..explain.embeddings import write_embedding_maps

    manifest, output_dir = Path(benchmark_dir) / "test.jsonl", Path(output_dir)
    model, video_processor = load_model(model_dir)
    records = read_manifest(manifest, model.config.label2id, extra_keys=("actor",))
    grids = []
    for record in records[:num_clips]:
        clip = Path(record["video"]).stem
        for method in METHODS:
            explanation = explain_video(model, video_processor, record["video"], top_k=top_k, method=method)
            title = f"{clip}, unseen actor {record['actor']!r}, true: {', '.join(record['labels'])} ({method})"
            grids.append(str(plot_attention_grid(explanation, output_dir / f"attention_{clip}_{method}.png", title)))
    logger.info(f"Wrote {len(grids)} attention grids into {output_dir}.")
    if importlib.util.find_spec("sklearn") is None:
        logger.info("scikit-learn is not installed (pip install -e '.[explain]'): skipping the embedding maps.")
        return {"attention_grids": grids, "embedding": None}
    embedding = write_embedding_maps(model, video_processor, manifest, output_dir, max_videos=max_videos)
    return {"attention_grids": grids, "embedding": embedding}


__all__ = ["write_demo_explanations"]
