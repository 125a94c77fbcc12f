"""Attention maps and embedding maps (`modeling_msqnet.explain`): known answers on tiny models of every video encoder family."""

import json

import numpy as np
import pytest
import torch
from drawn_figures import record_saved_figures
from PIL import Image
from tiny_models import BACKBONE_CONFIGS, IMAGE_SIZE, LABELS, tiny_config, tiny_model
from video_fixtures import write_video

from modeling_msqnet import MSQNetForVideoClassification, MSQNetVideoProcessor
from modeling_msqnet.explain import explain_pixel_values, record_attentions, roll_out, token_relevance
from modeling_msqnet.explain import figures as explain_figures
from modeling_msqnet.explain.attention_maps import (
    VideoTokenLayout,
    backbone_relevance,
    decoder_relevance,
    reduce_heads,
    relevance_to_maps,
    timesformer_spatial_matrix,
    timesformer_temporal_matrix,
    video_matrices,
)
from modeling_msqnet.explain.cli import main as explain_main
from modeling_msqnet.explain.embeddings import knn_label_accuracy


NUM_FRAMES = 4
PATCH = 8
GRID = IMAGE_SIZE // PATCH
VIDEOMAE_CONFIG = dict(
    model_type="videomae",
    image_size=IMAGE_SIZE,
    patch_size=PATCH,
    tubelet_size=2,
    num_frames=NUM_FRAMES,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    use_mean_pooling=False,
)
BACKBONES = list(BACKBONE_CONFIGS)


def build_model(backbone="timesformer", seed=0, **overrides):
    if backbone == "videomae":
        overrides.setdefault("video_config", dict(VIDEOMAE_CONFIG))
    elif backbone != "timesformer":
        overrides.setdefault("video_config", dict(BACKBONE_CONFIGS[backbone]))
    return tiny_model(seed, **overrides)


def pixel_values(seed=0):
    return torch.randn(1, NUM_FRAMES, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module", params=BACKBONES)
def record(request):
    return record_attentions(build_model(request.param), pixel_values())


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("frame_pooling", ["official", "per_frame"])
def test_pooling_map_reproduces_the_models_frame_tokens(backbone, frame_pooling):
    record = record_attentions(build_model(backbone, frame_pooling=frame_pooling), pixel_values())
    torch.testing.assert_close(record.pooling @ record.video_last_hidden_state, record.frame_tokens)
    assert torch.allclose(record.pooling.sum(dim=1), torch.ones(len(record.pooling)))
    if backbone == "timesformer" and frame_pooling == "official":
        # Patch-major order: the first "frame token" holds CLS and the first patches of every frame, not frame 1.
        assert record.pooling[0, 0] > 0
        first_tokens = record.pooling[0].nonzero().flatten()
        frames_seen = {int(token - 1) % NUM_FRAMES for token in first_tokens if token > 0}
        assert frames_seen == set(range(NUM_FRAMES))


def test_records_temporal_and_spatial_attention_and_restores_sdpa():
    model = build_model("videomae")
    assert model.msqnet.video_model.config._attn_implementation == "sdpa"
    videomae = record_attentions(model, pixel_values())
    assert model.msqnet.video_model.config._attn_implementation == "sdpa"
    assert [sorted(block) for block in videomae.video_attentions] == [["joint"], ["joint"]]
    tokens = (NUM_FRAMES // 2) * GRID * GRID
    assert videomae.video_attentions[0]["joint"].shape == (1, 4, tokens, tokens)

    for attn_implementation in (None, "sdpa"):
        timesformer = record_attentions(
            build_model("timesformer", video_attn_implementation=attn_implementation), pixel_values()
        )
        block = timesformer.video_attentions[0]
        assert block["temporal"].shape == (GRID * GRID, 4, NUM_FRAMES, NUM_FRAMES)
        assert block["spatial"].shape == (NUM_FRAMES, 4, 1 + GRID * GRID, 1 + GRID * GRID)
        torch.testing.assert_close(block["temporal"].sum(-1), torch.ones(GRID * GRID, 4, NUM_FRAMES))
    # Recording changes nothing the model computes.
    model = build_model("timesformer")
    with torch.no_grad():
        expected = model(pixel_values()).logits[0]
    torch.testing.assert_close(record_attentions(model, pixel_values()).logits, expected)


def test_rollout_rows_stay_normalised(record):
    steps = video_matrices(record, "rollout")
    for step in steps:
        assert (step >= 0).all()
        torch.testing.assert_close(step.sum(dim=1), torch.ones(len(step)))
    rollout = roll_out(steps)
    assert rollout.shape == (record.layout.num_tokens, record.layout.num_tokens)
    assert (rollout >= 0).all()
    torch.testing.assert_close(rollout.sum(dim=1), torch.ones(len(rollout)))

    memory = roll_out([0.5 * (torch.eye(a.shape[-1]) + reduce_heads(a)[0]) for a in record.encoder_attentions])
    query_part, frame_part = decoder_relevance(
        [reduce_heads(a)[0] for a in record.decoder_attentions],
        [reduce_heads(a)[0] for a in record.cross_attentions],
        memory,
        "rollout",
    )
    torch.testing.assert_close(query_part.sum(dim=1) + frame_part.sum(dim=1), torch.ones(len(LABELS)))
    relevance = token_relevance(record, list(range(len(LABELS))), "rollout")
    assert (relevance >= 0).all() and (relevance.sum(dim=1) <= 1 + 1e-5).all()
    torch.testing.assert_close(backbone_relevance(record).sum(), torch.tensor(1.0))


def test_timesformer_token_matrices_by_hand():
    # Two frames of one patch: tokens 0 = CLS, 1 = the patch in frame 1, 2 = the patch in frame 2.
    layout = VideoTokenLayout("timesformer", num_frames=2, grid_height=1, grid_width=1)
    spatial = torch.tensor([[[0.2, 0.8], [0.6, 0.4]], [[0.4, 0.6], [0.3, 0.7]]])  # (frame, [CLS, patch], [CLS, patch])
    expected = torch.tensor([[0.3, 0.4, 0.3], [0.6, 0.4, 0.0], [0.3, 0.0, 0.7]])  # CLS: the mean of its two copies
    torch.testing.assert_close(timesformer_spatial_matrix(spatial, layout), expected)
    temporal = torch.tensor([[[0.9, 0.1], [0.25, 0.75]]])  # (patch, frame, frame)
    expected = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.9, 0.1], [0.0, 0.25, 0.75]])
    torch.testing.assert_close(timesformer_temporal_matrix(temporal, layout, "rollout"), expected)
    expected[0, 0] = 0.0  # the gradient rule adds no relevance where no attention acts
    torch.testing.assert_close(timesformer_temporal_matrix(temporal, layout, "gradient"), expected)


def test_decoder_relevance_by_hand():
    self_attention = [torch.eye(2)]
    cross_attention = [torch.tensor([[1.0, 0.0], [0.5, 0.5]])]
    memory = torch.tensor([[0.5, 0.5], [0.0, 1.0]])
    query_part, frame_part = decoder_relevance(self_attention, cross_attention, memory, "rollout")
    torch.testing.assert_close(query_part, 0.5 * torch.eye(2))
    torch.testing.assert_close(frame_part, torch.tensor([[0.25, 0.25], [0.125, 0.375]]))
    query_part, frame_part = decoder_relevance(self_attention, cross_attention, memory, "gradient")
    torch.testing.assert_close(query_part, 2 * torch.eye(2))
    torch.testing.assert_close(frame_part, torch.tensor([[0.5, 0.5], [0.25, 0.75]]))  # cross @ memory, once


def _force_video_attention(record, patch, frame):
    """Every token's attention, in every block, goes to the token of `patch` in `frame` (its tubelet for VideoMAE)."""
    layout = record.layout
    index = layout.patch_token_index()
    slot = frame // layout.tubelet_size
    for block in record.video_attentions:
        if "frames" in block:  # per-frame image encoders: each frame's tokens attend to that frame's `patch`
            forced = torch.zeros_like(block["frames"])
            forced[..., layout.num_prefix_tokens_per_slot + patch] = 1.0
            block["frames"] = forced
            continue
        if "joint" in block:
            forced = torch.zeros_like(block["joint"])
            forced[..., index[patch, slot]] = 1.0
            block["joint"] = forced
            continue
        temporal = torch.zeros_like(block["temporal"])
        temporal[..., frame] = 1.0
        spatial = torch.zeros_like(block["spatial"])
        spatial[..., 1 + patch] = 1.0
        block["temporal"], block["spatial"] = temporal, spatial


@pytest.mark.parametrize("backbone", BACKBONES)
def test_attention_forced_to_one_patch_of_one_frame_peaks_there(backbone):
    record = record_attentions(build_model(backbone), pixel_values())
    patch, frame = 9, 3  # row 2, column 1 of the 4x4 grid
    _force_video_attention(record, patch, frame)
    row, column = divmod(patch, GRID)
    size = (IMAGE_SIZE, IMAGE_SIZE)
    maps = relevance_to_maps(token_relevance(record, [0, 1], "rollout"), record.layout, size)
    maps = np.concatenate([maps, relevance_to_maps(backbone_relevance(record)[None], record.layout, size)])
    if backbone == "timesformer":
        frames_of_the_patch = {frame}
    elif record.layout.per_frame:
        frames_of_the_patch = set(range(NUM_FRAMES))
    else:
        frames_of_the_patch = {2, 3}  # the tubelet of frames 2 and 3
    for label_map in maps:
        peak_frame, y, x = np.unravel_index(label_map.argmax(), label_map.shape)
        assert peak_frame in frames_of_the_patch
        assert (y // PATCH, x // PATCH) == (row, column)
        inside = label_map[frame, row * PATCH : (row + 1) * PATCH, column * PATCH : (column + 1) * PATCH].mean()
        assert inside > 3 * label_map.mean()


def test_maps_of_two_labels_differ_when_their_cross_attention_differs():
    record = record_attentions(build_model("timesformer"), pixel_values())
    num_frame_tokens = record.pooling.shape[0]
    for index, attention in enumerate(record.cross_attentions):
        same = torch.zeros_like(attention)
        same[..., :] = 1.0 / num_frame_tokens
        record.cross_attentions[index] = same
    for index, attention in enumerate(record.decoder_attentions):
        record.decoder_attentions[index] = torch.eye(len(LABELS)).expand_as(attention).clone()
    size = (IMAGE_SIZE, IMAGE_SIZE)
    equal = relevance_to_maps(token_relevance(record, [0, 1], "rollout"), record.layout, size)
    np.testing.assert_allclose(equal[0], equal[1], atol=1e-6)

    for index, attention in enumerate(record.cross_attentions):
        differing = torch.zeros_like(attention)
        differing[..., 0, 0] = 1.0  # label 0 reads the first frame token
        differing[..., 1, -1] = 1.0  # label 1 the last one
        differing[..., 2:, :] = 1.0 / num_frame_tokens
        record.cross_attentions[index] = differing
    maps = relevance_to_maps(token_relevance(record, [0, 1], "rollout"), record.layout, size)
    assert np.abs(maps[0] - maps[1]).max() > 0.5
    # Patch-major pooling: the first frame token pools the top patches of all frames, the last one the bottom ones.
    top, bottom = slice(0, IMAGE_SIZE // 2), slice(IMAGE_SIZE // 2, None)
    assert maps[0][:, top].mean() > maps[0][:, bottom].mean()
    assert maps[1][:, bottom].mean() > maps[1][:, top].mean()


@pytest.mark.parametrize("backbone", BACKBONES)
def test_gradient_maps_are_label_specific(backbone):
    model = build_model(backbone)
    explanation = explain_pixel_values(model, pixel_values(), labels=["walking", "eating"], method="gradient")
    assert list(explanation.label_maps) == ["walking", "eating"]
    for label_map in [*explanation.label_maps.values(), explanation.backbone_map]:
        assert label_map.shape == (NUM_FRAMES, IMAGE_SIZE, IMAGE_SIZE) and label_map.dtype == np.float32
        assert label_map.min() == 0.0 and label_map.max() == 1.0
    assert np.abs(explanation.label_maps["walking"] - explanation.label_maps["eating"]).max() > 0.1
    assert all(parameter.grad is None for parameter in model.parameters())


def test_per_frame_cls_tokens_have_no_patch_maps():
    model = build_model("clip_vision_model", image_frame_tokens="cls")
    with pytest.raises(ValueError, match="follow its patch tokens; this model uses `image_frame_tokens='cls'`"):
        record_attentions(model, pixel_values())


def test_unknown_labels_and_batches_are_rejected():
    model = build_model()
    with pytest.raises(ValueError, match="Unknown labels \\['flying'\\]"):
        explain_pixel_values(model, pixel_values(), labels=["flying"])
    with pytest.raises(ValueError, match="one video of shape"):
        explain_pixel_values(model, torch.zeros(2, NUM_FRAMES, 3, IMAGE_SIZE, IMAGE_SIZE))
    with pytest.raises(ValueError, match="`method` must be one of"):
        explain_pixel_values(model, pixel_values(), method="saliency")


def save_model(folder, backbone="timesformer"):
    model = build_model(backbone)
    model.save_pretrained(folder)
    video_processor = MSQNetVideoProcessor(
        num_frames=NUM_FRAMES,
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    )
    video_processor.save_pretrained(folder)
    return model, video_processor


def moving_square(index, height, width):
    frame = np.full((height, width, 3), 40, dtype=np.uint8)
    left = 4 + 6 * index
    frame[16:32, left : left + 12] = (250, 60, 60)
    return frame


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    model, video_processor = save_model(root / "model")
    videos = [write_video(root / f"clip{i}.mp4", 8, width=48, height=32, make_frame=moving_square) for i in range(6)]
    return {"root": root, "model": model, "video_processor": video_processor, "videos": videos}


@pytest.fixture
def drawn(monkeypatch):
    """The figures the explain commands save, in order (they are still written to their files)."""
    return record_saved_figures(monkeypatch, explain_figures)


def test_cli_writes_what_it_promises(saved, tmp_path, drawn):
    output_dir = tmp_path / "out"
    explain_main(
        ["--model", str(saved["root"] / "model"), "--video", saved["videos"][0], "--output_dir", str(output_dir)]
    )
    with torch.no_grad():
        inputs = saved["video_processor"](saved["videos"][0], return_tensors="pt")
        probabilities = saved["model"](**inputs).logits[0].sigmoid()
    top_5 = [LABELS[i] for i in probabilities.argsort(descending=True)[:5]]
    with np.load(output_dir / "attention_maps.npz") as arrays:
        assert list(arrays.keys()) == top_5
        for name in top_5:
            assert arrays[name].shape == (NUM_FRAMES, IMAGE_SIZE, IMAGE_SIZE)
            assert arrays[name].min() >= 0.0 and arrays[name].max() <= 1.0
    summary = json.loads((output_dir / "predictions.json").read_text())
    assert summary["labels"] == top_5 and summary["method"] == "rollout"
    for name in top_5:
        assert summary["probabilities"][name] == pytest.approx(float(probabilities[LABELS.index(name)]), abs=1e-6)
        with Image.open(output_dir / summary["animations"][name]) as gif:
            assert gif.format == "GIF" and gif.n_frames == NUM_FRAMES and min(gif.size) >= 160
    with Image.open(output_dir / "attention_grid.png") as grid:
        assert grid.format == "PNG" and grid.size[1] > grid.size[0] / 2  # 7 rows of 4 frames
    # The grid: a column per frame; rows: the frames, the backbone's rollout, then each label with its score.
    grid_axes = np.array(drawn[0].axes).reshape(2 + len(top_5), NUM_FRAMES)
    assert [ax.get_title() for ax in grid_axes[0]] == [f"frame {i + 1}" for i in range(NUM_FRAMES)]
    label_rows = [f"{name} ({float(probabilities[LABELS.index(name)]):.2f})" for name in top_5]
    assert [ax.get_ylabel() for ax in grid_axes[:, 0]] == ["frames", "backbone (CLS rollout)", *label_rows]
    assert all(len(ax.images) == 1 for ax in grid_axes.flat)  # every cell shows one frame (with its overlay)
    assert all(ax.get_ylabel() == "" for ax in grid_axes[:, 1:].flat)
    assert np.load(output_dir / "backbone_rollout.npy").shape == (NUM_FRAMES, IMAGE_SIZE, IMAGE_SIZE)

    chosen = tmp_path / "chosen"
    model_dir = str(saved["root"] / "model")
    argv = ["--model", model_dir, "--video", saved["videos"][0], "--output_dir", str(chosen), "--method", "gradient"]
    explain_main(argv + ["--labels", "eating", "walking"])
    with np.load(chosen / "attention_maps.npz") as arrays:
        assert list(arrays.keys()) == ["eating", "walking"]
    explain_main(["--model", model_dir, "--video", saved["videos"][0], "--output_dir", str(chosen), "--top_k", "2"])
    with np.load(chosen / "attention_maps.npz") as arrays:
        assert list(arrays.keys()) == top_5[:2]
    with pytest.raises(FileNotFoundError, match="--video"):
        explain_main(["--model", model_dir, "--video", str(tmp_path / "missing.mp4"), "--output_dir", str(chosen)])


def test_tsne_command_scores_before_and_after_the_decoder(saved, tmp_path, drawn):
    manifest = tmp_path / "clips.jsonl"
    labels = [["walking"], ["eating"], ["walking", "running"], ["eating"], ["sleeping"], ["walking"]]
    lines = [json.dumps({"video": video, "labels": names}) for video, names in zip(saved["videos"], labels)]
    manifest.write_text("\n".join(lines) + "\n")
    output_dir = tmp_path / "tsne"
    report = explain_main(
        ["tsne", "--model", str(saved["root"] / "model"), "--manifest", str(manifest), "--output_dir", str(output_dir)]
    )
    assert report["num_videos"] == 6 and report["num_points"] == 7
    written = json.loads((output_dir / "embedding_scores.json").read_text())
    for stage in ("before", "after"):
        assert 0.0 <= written[stage]["knn_accuracy"] <= 1.0
        assert -1.0 <= written[stage]["silhouette"] <= 1.0
    with Image.open(output_dir / "embedding_tsne.png") as figure:
        assert figure.format == "PNG"
    # Two panels, before and after the decoder, titled with their scores; each shows every point, coloured by label.
    (figure,) = drawn
    assert len(figure.axes) == 2
    for ax, stage, name in zip(figure.axes, ("before", "after"), ("before the decoder", "after the decoder")):
        score = written[stage]
        assert ax.get_title().startswith(name)
        assert f"k-NN accuracy {score['knn_accuracy']:.3f}, silhouette {score['silhouette']:.3f}" in ax.get_title()
        assert sum(len(points.get_offsets()) for points in ax.collections) == report["num_points"]
        assert sorted(points.get_label() for points in ax.collections) == ["eating", "running", "sleeping", "walking"]
    legend = figure.legends[0]
    assert sorted(text.get_text() for text in legend.get_texts()) == ["eating", "running", "sleeping", "walking"]


def test_knn_label_accuracy_known_answers():
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 10
    points = np.concatenate([centre + rng.normal(size=(8, 3)) for centre in centres])
    labels = np.repeat(np.arange(3), 8)
    groups = np.arange(24)
    assert knn_label_accuracy(points, labels, groups, k=5) == 1.0
    assert knn_label_accuracy(points, rng.permutation(labels), groups, k=5) < 0.7
    # A video's own points never vote: with points 0 and 1 from one video, each one's neighbour is from the other pair.
    pairs, pair_labels = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]]), np.array([0, 0, 1, 1])
    assert knn_label_accuracy(pairs, pair_labels, np.array([0, 1, 2, 3]), k=1) == 1.0
    assert knn_label_accuracy(pairs, pair_labels, np.array([0, 0, 1, 2]), k=1) == 0.5


def test_models_loaded_with_trust_remote_code(saved):
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    # What `trust_remote_code=True` loads where the package is not installed (here it would pick the registered class).
    model_dir = saved["root"] / "model"
    auto_map = json.loads((model_dir / "config.json").read_text())["auto_map"]
    remote_class = get_class_from_dynamic_module(auto_map["AutoModelForVideoClassification"], str(model_dir))
    remote = remote_class.from_pretrained(model_dir).eval()
    assert type(remote).__module__.startswith("transformers_modules")
    assert not isinstance(remote, MSQNetForVideoClassification)
    for method in ("rollout", "gradient"):
        ours = explain_pixel_values(saved["model"], pixel_values(), top_k=3, method=method)
        theirs = explain_pixel_values(remote, pixel_values(), top_k=3, method=method)
        assert list(theirs.label_maps) == list(ours.label_maps)
        for name in ours.label_maps:
            np.testing.assert_allclose(theirs.label_maps[name], ours.label_maps[name], atol=1e-5)


def test_demo_step_writes_grids_and_embedding_maps(tmp_path, drawn):
    from modeling_msqnet.data.synthetic_actions import ACTIONS, generate_benchmark
    from modeling_msqnet.demo.explanations import write_demo_explanations

    benchmark_dir = tmp_path / "benchmark"
    generate_benchmark(benchmark_dir, num_train=1, num_test=8, num_frames=NUM_FRAMES, size=IMAGE_SIZE, progress=False)
    torch.manual_seed(0)
    model = MSQNetForVideoClassification(
        tiny_config(id2label=dict(enumerate(ACTIONS)), label2id={name: i for i, name in enumerate(ACTIONS)})
    )
    model.save_pretrained(tmp_path / "model")
    MSQNetVideoProcessor(
        num_frames=NUM_FRAMES,
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    ).save_pretrained(tmp_path / "model")

    result = write_demo_explanations(tmp_path / "model", benchmark_dir, tmp_path / "explain", num_clips=2)
    assert sorted(path.rsplit("/", 1)[-1] for path in result["attention_grids"]) == [
        f"attention_test_0000{i}_{method}.png" for i in range(2) for method in ("gradient", "rollout")
    ]
    assert result["embedding"]["num_videos"] == 8
    assert (tmp_path / "explain" / "embedding_tsne.png").is_file()
    *grids, embedding_maps = drawn  # a grid per clip and method (frames, backbone, top labels), then the t-SNE panels
    assert len(grids) == 4 and all(len(grid.axes) % NUM_FRAMES == 0 and len(grid.axes) > NUM_FRAMES for grid in grids)
    assert [ax.get_title().split("\n")[0] for ax in embedding_maps.axes] == [
        "before the decoder (pooled frame tokens)",
        "after the decoder (label-wise states)",
    ]
    assert json.loads((tmp_path / "explain" / "embedding_scores.json").read_text())["num_videos"] == 8
