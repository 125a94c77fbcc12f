"""Timeline: windows, sampling like a manifest's start/end, scores equal to the model on each window alone, segments,
undecodable stretches, bounded buffers, the CLI's files."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import BACKBONE_CONFIGS, LABELS, save_tiny_model_folder, tiny_model, tiny_processor
from video_fixtures import write_video

from modeling_msqnet.hub_code.video_decoding import read_frames
from modeling_msqnet.timeline import StreamingVideoReader, compute_timeline, find_segments, window_bounds
from modeling_msqnet.timeline import timeline as timeline_module


ROOT = Path(__file__).resolve().parents[1]
FPS = 25


def load_example(name):
    """Import `examples/<name>.py` as a module (its `main(argv)` runs the CLI in this process)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_frame(index, height, width):
    rng = np.random.default_rng(index)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    # 7.2 s of noise frames, keyframe every 12 frames (B-frames too, libx264 defaults).
    path = tmp_path_factory.mktemp("timeline") / "long.mp4"
    return write_video(path, 180, width=64, height=48, fps=FPS, gop_size=12, make_frame=random_frame)


def reference_scores(model, processor, video, start, end):
    """The model run on the window's frames alone, read as a manifest row with start/end is read."""
    frames, _ = read_frames(video, model.config.num_frames, start=start, end=end)
    with torch.no_grad():
        logits = model(**processor(videos=[frames], do_sample_frames=False, return_tensors="pt")).logits
    if model.config.problem_type == "single_label_classification":
        return torch.softmax(logits, -1)[0].numpy()
    return torch.sigmoid(logits)[0].numpy()


def test_window_bounds():
    starts, ends = window_bounds(10.0, 4.0, 2.0)
    assert starts.tolist() == [0.0, 2.0, 4.0, 6.0] and ends.tolist() == [4.0, 6.0, 8.0, 10.0]
    starts, ends = window_bounds(9.9, 4.0, 3.0)
    assert starts.tolist() == [0.0, 3.0] and ends[-1] <= 9.9
    starts, ends = window_bounds(1.5, 4.0, 2.0)
    assert starts.tolist() == [0.0] and ends.tolist() == [1.5]
    with pytest.raises(ValueError, match="stride_seconds"):
        window_bounds(10.0, 4.0, 0.0)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"query_num_frames": 2},
        {"problem_type": "single_label_classification"},
        {"use_video_query": False},
        {"video_config": dict(BACKBONE_CONFIGS["vjepa2"])},
        {"video_config": dict(BACKBONE_CONFIGS["dinov2"])},
    ],
    ids=["query", "query-subset", "single-label", "no-query", "vjepa2", "dinov2-per-frame"],
)
def test_window_scores_equal_the_model_on_each_window_alone(long_video, overrides):
    model, processor = tiny_model(**overrides), tiny_processor()
    timeline = compute_timeline(
        model, processor, long_video, window_seconds=1.0, stride_seconds=0.5, batch_size=3, progress=False
    )
    assert len(timeline.window_starts) == 13  # windows [0, 1) ... [6, 7) in a 7.2 s video
    assert timeline.scores.shape == (13, len(LABELS))
    for start, end, scores in zip(timeline.window_starts, timeline.window_ends, timeline.scores):
        np.testing.assert_allclose(scores, reference_scores(model, processor, long_video, start, end), atol=1e-5)
    if overrides.get("problem_type") == "single_label_classification":
        np.testing.assert_allclose(timeline.scores.sum(axis=1), 1.0, atol=1e-6)


def test_each_sampled_frame_is_decoded_preprocessed_and_embedded_once(long_video, monkeypatch):
    model, processor = tiny_model(), tiny_processor()
    embedded, preprocessed = [], []
    original_embed = model.msqnet.get_frame_query_embeds
    monkeypatch.setattr(
        model.msqnet, "get_frame_query_embeds", lambda frames: embedded.append(len(frames)) or original_embed(frames)
    )
    original_call = processor.__call__

    class CountingProcessor:
        def __call__(self, videos, **kwargs):
            preprocessed.append(len(videos[0]))
            return original_call(videos, **kwargs)

    decoded = []
    original_iter = StreamingVideoReader.iter_frames

    def counting_iter(self, indices):
        for index, frame in original_iter(self, indices):
            decoded.append(index)
            yield index, frame

    monkeypatch.setattr(StreamingVideoReader, "iter_frames", counting_iter)
    # 4 frames over 1 s windows, 0.5 s stride: every second window's frames are shared with its neighbours.
    timeline = compute_timeline(
        model, CountingProcessor(), long_video, window_seconds=1.0, stride_seconds=0.5, batch_size=4, progress=False
    )
    unique = {int(i) for w in range(len(timeline.window_starts)) for i in _sampled(long_video, timeline, w)}
    assert len(decoded) == len(set(decoded)) == len(unique)
    assert sum(preprocessed) == len(unique) and sum(embedded) == len(unique)
    assert len(unique) < 4 * len(timeline.window_starts)  # windows really share frames


def _sampled(video, timeline, window):
    from modeling_msqnet.hub_code.video_decoding import sample_frame_indices

    first, last = StreamingVideoReader(video).frame_range(timeline.window_starts[window], timeline.window_ends[window])
    return first + sample_frame_indices(last - first, timeline.settings["num_frames"])


def test_buffered_frames_stay_bounded(long_video, monkeypatch):
    sizes = []
    original = timeline_module._StreamState._release

    def recording_release(self):
        original(self)
        sizes.append(len(self.pixels))

    monkeypatch.setattr(timeline_module._StreamState, "_release", recording_release)
    compute_timeline(
        tiny_model(), tiny_processor(), long_video, window_seconds=1.0, stride_seconds=0.25, batch_size=2,
        progress=False,
    )  # fmt: skip
    # Two windows of 4 frames per batch: never more than the frames of the windows still to be scored.
    assert max(sizes) <= 8


def test_short_video_gets_one_window(tmp_path):
    video = write_video(tmp_path / "short.mp4", 20, fps=FPS, make_frame=random_frame)
    model, processor = tiny_model(), tiny_processor()
    timeline = compute_timeline(model, processor, video, window_seconds=4.0, stride_seconds=2.0, progress=False)
    assert timeline.window_starts.tolist() == [0.0] and timeline.window_ends.tolist() == [pytest.approx(0.8)]
    np.testing.assert_allclose(timeline.scores[0], reference_scores(model, processor, video, 0.0, 0.8), atol=1e-5)


def test_segments_threshold_min_duration_and_merge_gap():
    # Overlapping (or touching) windows above the threshold form one segment, their union; the peak is the best one.
    starts = np.arange(6) * 1.0
    scores = np.array([[0.1, 0.9, 0.8, 0.2, 0.7, 0.1]]).T
    segments = find_segments(starts, starts + 2.0, scores, ["a"], threshold=0.5)
    assert [(s["start"], s["end"], s["peak_score"], s["peak_time"]) for s in segments] == [
        (1.0, 6.0, pytest.approx(0.9), 2.0)
    ]
    segments = find_segments(starts, starts + 1.5, scores, ["a"], threshold=0.5)
    assert [(s["start"], s["end"]) for s in segments] == [(1.0, 3.5), (4.0, 5.5)]
    # Windows 1 s long every 2 s: pieces 1 s apart merge with merge_gap >= 1 only.
    starts = np.arange(8) * 2.0
    scores = np.array([[0.1, 0.9, 0.8, 0.2, 0.7, 0.1, 0.95, 0.1], [0.0] * 8]).T

    def spans(**options):
        segments = find_segments(starts, starts + 1.0, scores, ["a", "b"], **options)
        return [(segment["label"], segment["start"], segment["end"]) for segment in segments]

    assert spans(threshold=0.5) == [("a", 2.0, 3.0), ("a", 4.0, 5.0), ("a", 8.0, 9.0), ("a", 12.0, 13.0)]
    assert spans(threshold=0.5, merge_gap=1.0) == [("a", 2.0, 5.0), ("a", 8.0, 9.0), ("a", 12.0, 13.0)]
    assert spans(threshold=0.5, merge_gap=1.0, min_duration=1.5) == [("a", 2.0, 5.0)]
    assert spans(threshold=0.85) == [("a", 2.0, 3.0), ("a", 12.0, 13.0)]
    # Unscored (NaN) windows break segments.
    nan_breaks = find_segments(starts[:3], starts[:3] + 3.0, np.array([[0.9], [np.nan], [0.9]]), ["a"], threshold=0.5)
    assert [(s["start"], s["end"]) for s in nan_breaks] == [(0.0, 3.0), (4.0, 7.0)]


def corrupt_packets(path, first_time, last_time):
    """Overwrite the bytes of the packets shown between `first_time` and `last_time` seconds with garbage."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        spans = [
            (packet.pos, packet.size)
            for packet in container.demux(stream)
            if packet.size and first_time <= float(packet.pts * stream.time_base) < last_time
        ]
    data = bytearray(Path(path).read_bytes())
    for position, size in spans:
        data[position : position + size] = bytes([0xFF]) * size
    Path(path).write_bytes(bytes(data))


def test_undecodable_stretch_is_reported_with_its_time_range(tmp_path):
    # Intra-only frames, so exactly the frames shown from 2 s to 3 s are lost.
    video = write_video(tmp_path / "broken.mp4", 150, fps=FPS, codec="mjpeg", pix_fmt="yuvj420p")
    corrupt_packets(video, 2.0, 3.0)
    model, processor = tiny_model(), tiny_processor()
    timeline = compute_timeline(model, processor, video, window_seconds=1.0, stride_seconds=1.0, progress=False)
    assert timeline.undecodable == [{"start": 2.0, "end": pytest.approx(3.0), "num_frames": 25}]
    unscored = [start for start, row in zip(timeline.window_starts, timeline.scores) if np.isnan(row).any()]
    assert unscored == [2.0]
    data = timeline.to_dict()
    assert data["windows"][2]["scores"] is None and data["windows"][3]["scores"] is not None
    assert data["undecodable"] == timeline.undecodable


def test_cli_writes_json_csv_and_plot(long_video, tmp_path):
    model_dir = save_tiny_model_folder(tmp_path / "model")
    output, csv_path, plot = tmp_path / "timeline.json", tmp_path / "timeline.csv", tmp_path / "timeline.png"
    load_example("timeline").main(
        [
            "--model", str(model_dir), "--video", long_video, "--window_seconds", "2", "--stride_seconds", "1",
            "--threshold", "0.0", "--output", str(output), "--csv", str(csv_path), "--plot", str(plot),
            "--no_progress",
        ]
    )  # fmt: skip
    data = json.loads(output.read_text())
    assert [w["start"] for w in data["windows"]] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert set(data["windows"][0]["scores"]) == set(LABELS) and data["windows"][0]["end"] == 2.0
    # threshold 0: every label is one segment over the whole covered span
    assert sorted(s["label"] for s in data["segments"]) == sorted(LABELS)
    assert all((s["start"], s["end"]) == (0.0, 7.0) for s in data["segments"])
    rows = csv_path.read_text().splitlines()
    assert rows[0].split(",") == ["start", "end", *LABELS] and len(rows) == 7
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_windows_without_frames_are_reported(tmp_path):
    # 1 s of frames, one frame shown for 3 s, then 1 s of frames: the windows [2, 3) and [3, 4) hold no frame.
    durations = [40] * 25 + [3000] + [40] * 25
    video = write_video(tmp_path / "gap.mp4", len(durations), frame_durations_ms=durations, make_frame=random_frame)
    timeline = compute_timeline(
        tiny_model(), tiny_processor(), video, window_seconds=1.0, stride_seconds=1.0, progress=False
    )
    assert timeline.window_starts.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert np.isnan(timeline.scores).any(axis=1).tolist() == [False, False, True, True, False]
    assert timeline.undecodable == [{"start": 2.0, "end": 4.0, "num_frames": 0}]


def test_precomputed_video_query_gives_the_same_logits():
    model = tiny_model()
    pixel_values = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        expected = model(pixel_values=pixel_values).logits
        query = model.msqnet.get_video_query_embeds(pixel_values)
        frame_embeds = model.msqnet.get_frame_query_embeds(pixel_values.flatten(0, 1)).view(2, 4, -1)
        logits = model(pixel_values=pixel_values, video_query_embeds=frame_embeds.mean(dim=1)).logits
    np.testing.assert_allclose(query.numpy(), frame_embeds.mean(dim=1).numpy(), atol=1e-6)
    np.testing.assert_allclose(logits.numpy(), expected.numpy(), atol=1e-6)
    assert model.msqnet.get_query_frame_indices(4) is None
    assert model.msqnet.get_query_frame_indices(4, 2).tolist() == [0, 3]
    with pytest.raises(ValueError, match="video_query_embeds"):
        model(pixel_values=pixel_values, video_query_embeds=query[:1])
    with pytest.raises(ValueError, match="no video query"):
        tiny_model(use_video_query=False)(pixel_values=pixel_values, video_query_embeds=query)


@pytest.mark.parametrize("extension", ["ts", "mkv"])
def test_other_containers_give_the_frames_of_each_window(tmp_path, extension):
    # MPEG-TS (h264 with B-frames) is where seeking readers go wrong; the timeline never seeks.
    video = write_video(tmp_path / f"clip.{extension}", 100, fps=FPS, gop_size=12, make_frame=random_frame)
    model, processor = tiny_model(), tiny_processor()
    timeline = compute_timeline(model, processor, video, window_seconds=1.0, stride_seconds=0.5, progress=False)
    assert len(timeline.window_starts) == 7 and not timeline.undecodable
    for start, end, scores in zip(timeline.window_starts, timeline.window_ends, timeline.scores):
        np.testing.assert_allclose(scores, reference_scores(model, processor, video, start, end), atol=1e-5)
