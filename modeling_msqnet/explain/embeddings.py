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
"""Embedding maps (the paper's Figure 4): t-SNE of video embeddings before and after the multi-modal decoder.

Every (video, true label) pair is one point. Before the decoder its embedding is the video's pooled frame tokens
averaged (the same for all labels of a video); after the decoder it is the decoder state of that label for that video.
Beside each panel: the k-nearest-neighbour label accuracy (cosine, neighbours from other videos only) and the
silhouette score (cosine, by label), both computed in the embedding space itself, not in the 2-D picture.
"""

import json
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers.utils import logging

from ..file_utils import atomic_output
from ..hub_code.configuration_msqnet import ordered_label_names
from .figures import plot_embedding_maps


logger = logging.get_logger(__name__)


def _require_sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "Embedding maps need scikit-learn: `pip install -e '.[explain]'` (or `pip install scikit-learn`)."
        ) from error


@torch.no_grad()
def collect_embeddings(model, video_processor, manifest, batch_size: int = 16, max_videos: int | None = None) -> dict:
    """
    Embeddings of the videos of a manifest before and after the decoder.

    Returns:
        `dict` with `before` `(V, video_hidden_size)` (pooled frame tokens, averaged), `after` `(V, K, hidden_size)`
        (decoder states), `targets` `(V, K)` 0/1, `videos` (paths) and `skipped` (videos that could not be read).
    """
    from ..data import load_manifest_dataset
    from ..training.dataloaders import build_eval_dataloader

    base = getattr(model, "msqnet", model)
    config = model.config
    dataset = load_manifest_dataset(manifest, config.label2id, problem_type=config.problem_type)
    if max_videos is not None and len(dataset) > max_videos:
        dataset = dataset.select(range(max_videos))
    dataloader = build_eval_dataloader(dataset, video_processor, config, batch_size)
    frame_tokens = []

    def keep_frame_tokens(module, args):
        frame_tokens.append(args[0])

    hook = base.frame_projection.register_forward_pre_hook(keep_frame_tokens)
    before, after, targets, videos, skipped = [], [], [], [], []
    model.eval()
    try:
        for batch in tqdm(dataloader, desc="Embedding videos"):
            skipped += batch["skipped"]
            valid = batch["valid"]
            if not valid.any():
                continue
            frame_tokens.clear()
            outputs = model(pixel_values=batch["pixel_values"][valid], return_dict=True)
            before.append(frame_tokens[0].float().mean(dim=1))
            after.append(outputs.last_hidden_state.float())
            labels = batch["labels"][valid]
            if labels.dim() == 1:
                labels = torch.nn.functional.one_hot(labels.long(), config.num_labels)
            targets.append(labels.long())
            videos += [dataset[int(i)]["video"] for i in batch["index"][valid]]
    finally:
        hook.remove()
    if skipped:
        logger.warning(f"{len(skipped)} videos of {manifest} could not be read and are left out: {skipped[:5]}")
    if not before:
        raise ValueError(f"No video of {manifest} could be read.")
    return {
        "before": torch.cat(before).numpy(),
        "after": torch.cat(after).numpy(),
        "targets": torch.cat(targets).numpy(),
        "videos": videos,
        "skipped": skipped,
    }


def label_points(embeddings: dict) -> dict:
    """One point per (video, true label): `before` and `after` `(M, dim)`, `labels` `(M,)`, `video_ids` `(M,)`."""
    video_ids, label_ids = np.nonzero(embeddings["targets"])
    if len(video_ids) == 0:
        raise ValueError("No video has a true label: nothing to colour the embedding map by.")
    return {
        "before": embeddings["before"][video_ids],
        "after": embeddings["after"][video_ids, label_ids],
        "labels": label_ids,
        "video_ids": video_ids,
    }


def knn_label_accuracy(points: np.ndarray, labels: np.ndarray, groups: np.ndarray, k: int = 10) -> float:
    """
    Share of points whose label is the majority label of their `k` nearest neighbours (cosine similarity), counting
    only neighbours of other groups (other videos), so a video's own points never vote. Ties go to the nearest.
    """
    normalised = points / np.linalg.norm(points, axis=1, keepdims=True).clip(min=1e-12)
    similarity = normalised @ normalised.T
    similarity[groups[:, None] == groups[None, :]] = -np.inf
    k = min(k, int((groups[None, :] != groups[:, None]).sum(axis=1).min()))
    if k < 1:
        raise ValueError("k-NN accuracy needs points from at least two videos.")
    neighbours = np.argsort(-similarity, axis=1)[:, :k]
    correct = 0
    num_labels = int(labels.max()) + 1
    for row, indices in enumerate(neighbours):
        votes = np.bincount(labels[indices], weights=np.linspace(1.0, 0.999, len(indices)), minlength=num_labels)
        correct += int(votes.argmax() == labels[row])
    return correct / len(labels)


def embedding_scores(points: np.ndarray, labels: np.ndarray, groups: np.ndarray, k: int = 10) -> dict:
    """k-NN label accuracy and cosine silhouette (NaN with fewer than two labels) of one embedding."""
    from sklearn.metrics import silhouette_score

    silhouette = float("nan")
    if 1 < len(np.unique(labels)) < len(labels):
        silhouette = float(silhouette_score(points, labels, metric="cosine"))
    return {"knn_accuracy": knn_label_accuracy(points, labels, groups, k), "silhouette": silhouette}


def tsne(points: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """scikit-learn's t-SNE to 2-D (cosine distances, PCA initialisation); perplexity capped for small sets."""
    from sklearn.manifold import TSNE

    perplexity = float(min(perplexity, max(1.0, (len(points) - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, metric="cosine", init="pca", random_state=seed).fit_transform(
        points
    )


def write_embedding_maps(
    model,
    video_processor,
    manifest,
    output_dir,
    batch_size: int = 16,
    max_videos: int | None = 1000,
    k: int = 10,
    seed: int = 0,
    title: str | None = None,
) -> dict:
    """
    Embed the videos of `manifest`, draw `embedding_tsne.png` (before / after the decoder) and write the scores in
    `embedding_scores.json` into `output_dir`.

    Returns:
        `dict`: `before` and `after` scores (`knn_accuracy`, `silhouette`), `num_videos`, `num_points`, `k`, paths.
    """
    _require_sklearn()
    embeddings = collect_embeddings(model, video_processor, manifest, batch_size=batch_size, max_videos=max_videos)
    points = label_points(embeddings)
    scores = {
        stage: embedding_scores(points[stage], points["labels"], points["video_ids"], k)
        for stage in ("before", "after")
    }
    label_names = ordered_label_names(model.config.id2label)
    output_dir = Path(output_dir)
    figure = plot_embedding_maps(
        tsne(points["before"], seed),
        tsne(points["after"], seed),
        points["labels"],
        label_names,
        scores,
        output_dir / "embedding_tsne.png",
        title=title,
    )
    report = {
        **scores,
        "k": k,
        "num_videos": len(embeddings["videos"]),
        "num_points": len(points["labels"]),
        "num_skipped": len(embeddings["skipped"]),
        "manifest": str(Path(manifest).resolve()),
        "figure": str(figure),
    }
    with atomic_output(output_dir / "embedding_scores.json", ".json") as temporary:
        temporary.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    logger.info(
        f"Embedding maps of {report['num_videos']} videos: k-NN accuracy {scores['before']['knn_accuracy']:.3f} -> "
        f"{scores['after']['knn_accuracy']:.3f}, silhouette {scores['before']['silhouette']:.3f} -> "
        f"{scores['after']['silhouette']:.3f} (before -> after the decoder)."
    )
    return report


__all__ = [
    "collect_embeddings",
    "embedding_scores",
    "knn_label_accuracy",
    "label_points",
    "tsne",
    "write_embedding_maps",
]
