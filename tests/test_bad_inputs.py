"""Inputs that are not (good) videos: each gets a correct result, a clear error naming the file, or a counted skip.

The cases of docs/reliability.md: pipes, devices, text files, playlists, audio files, truncated files, recordings
that start inside a GOP, tiny frames, frame folders with gaps or duplicates, names with colons, several video streams,
phone footage, still images, model inputs of the wrong shape, and one training run fed several of them.
"""

import os
import threading

import av
import numpy as np
import pytest
import tiny_models
import torch
from tiny_models import BACKBONE_CONFIGS, VIDEOMAE_CONFIG, tiny_config, tiny_model
from transformers.testing_utils import CaptureLogger
from video_fixtures import (
    decode_frame_index,
    decode_frame_indices,
    index_frame,
    read_video_frames,
    write_frame_folder,
    write_image,
    write_video,
)

from modeling_msqnet import MSQNetVideoProcessor
from modeling_msqnet.data import MSQNetVideoTransform
from modeling_msqnet.hub_code import backbones_msqnet, video_decoding
from modeling_msqnet.hub_code.video_decoding import (
    VideoDecodingError,
    VideoReader,
    probe_video,
    read_frames,
    sample_frame_indices,
)


def small_processor(**kwargs):
    return MSQNetVideoProcessor(
        **{"num_frames": 4, "size": {"shortest_edge": 32}, "crop_size": {"height": 28, "width": 28}, **kwargs}
    )


def transform_batch(transform, videos):
    """What a training or evaluation run does with one batch of manifest rows."""
    return transform({"video": list(videos), "label_ids": [[0]] * len(videos), "index": list(range(len(videos)))})


# ----------------------------------------------------------------------------------------------- not regular files


def test_named_pipe_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "camera.mp4"
    os.mkfifo(fifo)
    outcome = {}

    def probe():
        try:
            probe_video(fifo)
        except Exception as error:  # noqa: BLE001 - the test looks at what came out
            outcome["error"] = error

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout=20)
    if thread.is_alive():
        # Unblock the reader stuck in open() so that the test process can end, then fail.
        with open(fifo, "wb"):
            pass
        thread.join(timeout=20)
        pytest.fail(f"Reading the named pipe {fifo} blocked.")
    assert isinstance(outcome.get("error"), VideoDecodingError), outcome
    assert "named pipe" in str(outcome["error"]) and str(fifo) in str(outcome["error"])
    # The processor (inference) and the dataset transform (training and evaluation runs) refuse it too.
    with pytest.raises(VideoDecodingError, match="named pipe"):
        small_processor()(str(fifo), return_tensors="pt")
    outputs = transform_batch(MSQNetVideoTransform(small_processor(), 2), [str(fifo)])
    assert outputs["pixel_values"] == [None] and "named pipe" in outputs["decoding_error"][0]


def test_named_pipe_inside_a_frame_folder_is_refused(tmp_path):
    folder = write_frame_folder(tmp_path / "frames", 3)
    os.remove(os.path.join(folder, "frame_2.png"))
    os.mkfifo(os.path.join(folder, "frame_2.png"))
    with pytest.raises(VideoDecodingError, match=r"1 image name\(s\) that are not regular files \(e.g. frame_2.png\)"):
        read_video_frames(folder, [0, 1, 2])


def test_devices_are_refused():
    with pytest.raises(VideoDecodingError, match="/dev/zero is not a regular file"):
        probe_video("/dev/zero")


@pytest.mark.parametrize("name", ["readme.txt", "release.nfo"])
def test_text_files_are_not_videos(tmp_path, name):
    # FFmpeg's `tty` demuxer opens any .txt/.nfo file as an ANSI-art "video".
    path = tmp_path / name
    path.write_text("Shot on a trail camera, 2026-06-01.\n" * 20)
    with pytest.raises(VideoDecodingError, match=f"{name} is not a video"):
        read_frames(path, 4)


def test_playlists_are_not_videos(tmp_path):
    """Concat lists and HLS playlists would make FFmpeg read other files (or the network)."""
    write_video(tmp_path / "part.ts", 10)
    concat_list = "ffconcat version 1.0\nfile 'part.ts'\nfile 'part.ts'\n"
    (tmp_path / "list.ffconcat").write_text(concat_list)
    (tmp_path / "list.mp4").write_text(concat_list)  # found by its content, not its name
    (tmp_path / "play.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:0.4,\npart.ts\n#EXT-X-ENDLIST\n")
    for name in ("list.ffconcat", "list.mp4", "play.m3u8"):
        with pytest.raises(VideoDecodingError, match=f"{name} is a playlist or stream description"):
            probe_video(tmp_path / name)


def mux_silence(container, stream, samples_per_frame, num_frames=20, rate=16000):
    """Encode `num_frames` frames of mono silence into the audio `stream` of `container`."""
    for index in range(num_frames):
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, samples_per_frame), dtype=np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = rate, index * samples_per_frame
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def test_audio_files_are_not_videos(tmp_path):
    path = str(tmp_path / "call.m4a")
    with av.open(path, "w") as container:
        mux_silence(container, container.add_stream("aac", rate=16000), samples_per_frame=1024)
    with pytest.raises(VideoDecodingError, match="call.m4a has no video stream"):
        probe_video(path)


def test_cover_art_of_an_audio_file_is_not_a_video(tmp_path):
    path = str(tmp_path / "song.mp3")
    with av.open(path, "w") as container:
        audio = container.add_stream("libmp3lame", rate=16000)
        picture = container.add_stream("mjpeg", rate=1)
        picture.width, picture.height, picture.pix_fmt = 64, 48, "yuvj420p"
        picture.disposition = av.stream.Disposition.attached_pic
        cover = av.VideoFrame.from_ndarray(index_frame(3, 48, 64), format="rgb24").reformat(format="yuvj420p")
        for packet in list(picture.encode(cover)) + list(picture.encode()):
            container.mux(packet)
        mux_silence(container, audio, samples_per_frame=1152)
    with pytest.raises(VideoDecodingError, match="song.mp3 has only a cover picture, no video stream"):
        probe_video(path)


# ----------------------------------------------------------------------------------------------- truncated files


def test_truncated_faststart_mp4_is_reported(tmp_path):
    path = str(tmp_path / "full.mp4")
    with av.open(path, "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"threads": "1"}
        for index in range(132):
            for packet in stream.encode(av.VideoFrame.from_ndarray(index_frame(index, 48, 64), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert probe_video(path).num_frames == 132
    data = open(path, "rb").read()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # the index (moov) is at the front: the file still opens
    with pytest.raises(VideoDecodingError, match=r"cut\.mp4 is truncated: its header lists 132 frames"):
        probe_video(cut)
    # a training run skips it and lists why
    outputs = transform_batch(MSQNetVideoTransform(small_processor(), 2, train=True), [str(cut), path])
    assert outputs["pixel_values"][0] is None and "truncated" in outputs["decoding_error"][0]
    assert outputs["pixel_values"][1] is not None


def test_truncated_matroska_is_reported(tmp_path):
    path = write_video(tmp_path / "full.mkv", 100, gop_size=10)
    data = open(path, "rb").read()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoDecodingError, match=r"cut\.mkv is truncated: its header says it lasts 4\.00 s"):
        probe_video(cut)


def test_matroska_whose_audio_outlasts_the_video_is_not_truncated(tmp_path):
    path = str(tmp_path / "screen_recording.mkv")
    with av.open(path, "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.options = {"threads": "1"}
        audio = container.add_stream("aac", rate=16000)
        for index in range(25):  # 1 s of video
            for packet in video.encode(av.VideoFrame.from_ndarray(index_frame(index, 48, 64), format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        for index in range(80):  # about 5 s of audio
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, index * 1024
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    with av.open(path) as container:
        assert container.duration / av.time_base > 4
    assert probe_video(path).num_frames == 25


def test_transport_stream_starting_inside_a_gop_leaves_out_the_undecodable_frames(tmp_path):
    """A recording that starts mid-GOP: the frames before the first keyframe are left out, counted in a warning."""
    path = write_video(tmp_path / "full.ts", 60, gop_size=20, width=128, height=96)
    data = open(path, "rb").read()
    cut = tmp_path / "from_the_middle.ts"
    cut.write_bytes(data[188 * 8 :])  # drop whole 188-byte TS packets: the first keyframe is gone
    with CaptureLogger(video_decoding.logger) as captured:
        reader = VideoReader(cut)
    assert "from_the_middle.ts starts inside a group of pictures: its first 19 frame(s)" in captured.out
    assert reader.num_frames == 40
    assert decode_frame_indices(reader.read(range(40))) == list(range(20, 60))
    assert decode_frame_indices(reader.read([39, 0, 25])) == [59, 20, 45]
    reader.close()


# ----------------------------------------------------------------------------------------------- tiny frames


def _colour_frame(index, height, width):
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[..., 0] = 200  # red
    frame[..., 2] = 40
    return frame


@pytest.mark.parametrize("height", [1, 3])
def test_frames_one_or_three_pixels_high_keep_their_colours(tmp_path, height):
    # Stored as 64-pixel-wide lossless RGB so that the decoded colour is exact.
    path = write_video(tmp_path / "strip.mkv", 6, width=64, height=height, codec="ffv1", pix_fmt="bgr0",
                       make_frame=_colour_frame)  # fmt: skip
    assert read_video_frames(path, [0])[0, 0, 0].tolist() == [200, 0, 40]
    processor = small_processor(do_normalize=False, do_rescale=False)
    pixel_values = processor(path, return_tensors="pt")["pixel_values"].float()
    assert pixel_values.shape == (1, 4, 3, 28, 28)
    assert torch.allclose(pixel_values[0, :, :, 14, 14], torch.tensor([200.0, 0.0, 40.0]).expand(4, 3), atol=1)
    # the evaluation transform decodes then processes the same way
    outputs = transform_batch(MSQNetVideoTransform(processor, 2), [path])
    assert torch.allclose(outputs["pixel_values"][0][:, :, 14, 14].float(), torch.tensor([200.0, 0.0, 40.0]), atol=1)


def test_one_pixel_clip_is_skipped_by_training_not_a_crash(tmp_path):
    tiny = write_video(tmp_path / "tiny.mkv", 8, width=1, height=1, codec="ffv1", pix_fmt="bgr0")
    good = write_video(tmp_path / "good.mp4", 8)
    outputs = transform_batch(MSQNetVideoTransform(small_processor(), 2, train=True), [tiny, good])
    assert outputs["pixel_values"][0] is None
    assert "tiny.mkv has frames of 1x1 pixels, too small for the training crop" in outputs["decoding_error"][0]
    assert outputs["pixel_values"][1].shape == (4, 3, 28, 28)
    # evaluation resizes it like any other clip
    evaluated = transform_batch(MSQNetVideoTransform(small_processor(), 2), [tiny])
    assert evaluated["pixel_values"][0].shape == (4, 3, 28, 28)


# ----------------------------------------------------------------------------------------------- frame folders


def test_frame_folder_with_png_and_jpg_of_one_frame_is_refused(tmp_path):
    folder = write_frame_folder(tmp_path / "frames", 12, extension="png")
    write_frame_folder(tmp_path / "frames", 12, extension="jpg")
    with pytest.raises(
        VideoDecodingError, match=r"12 frame\(s\) with more than one image \(e.g. frame_1.jpg, frame_1.png\)"
    ):
        probe_video(folder)


def test_frame_folder_with_a_gap_is_refused(tmp_path):
    folder = write_frame_folder(tmp_path / "frames", 12)
    os.remove(os.path.join(folder, "frame_6.png"))
    with pytest.raises(VideoDecodingError, match=r"frames.* is missing 1 of the frames numbered 1 to 12 \(frame 6\)"):
        read_frames(folder, 4, start=0.5, end=1.0, folder_fps=10)


def test_frame_folder_numbering_may_start_anywhere(tmp_path):
    folder = write_frame_folder(tmp_path / "frames", 6, name_format="img_{:05d}")
    for index in range(6):  # renumber 1..6 as 101..106 (a clip cut out of a longer video)
        os.rename(os.path.join(folder, f"img_{index + 1:05d}.png"), os.path.join(folder, f"img_{index + 101:05d}.png"))
    assert decode_frame_indices(read_video_frames(folder, [0, 5])) == [0, 5]


# ----------------------------------------------------------------------------------------------- other footage


def test_still_image_is_a_one_frame_video(tmp_path):
    path = write_image(tmp_path / "snapshot.png", index_frame(37, 48, 64))
    frames, info = read_frames(path, 4)
    assert info.num_frames == 1 and frames.shape == (4, 48, 64, 3)
    assert decode_frame_indices(frames) == [37] * 4


def test_relative_path_with_colons_is_a_file_not_a_protocol(tmp_path, monkeypatch):
    # cameras name exports by time; FFmpeg reads "12:30:00.mp4" as the protocol "12"
    write_video(tmp_path / "12:30:00.mp4", 10)
    write_frame_folder(tmp_path / "frames", 3, name_format="12:30:0{}")
    monkeypatch.chdir(tmp_path)
    assert decode_frame_indices(read_video_frames("12:30:00.mp4", [9, 2])) == [9, 2]
    assert decode_frame_indices(read_video_frames("frames", [2, 0])) == [2, 0]


def test_several_video_streams_read_the_first(tmp_path):
    path = str(tmp_path / "two_cameras.mkv")
    with av.open(path, "w") as container:
        streams = [container.add_stream("libx264", rate=25) for _ in range(2)]
        for stream in streams:
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            stream.options = {"threads": "1"}
        for index in range(20):
            for stream, frame_index in zip(streams, (index, 1000 + index)):
                frame = av.VideoFrame.from_ndarray(index_frame(frame_index, 48, 64), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
        for stream in streams:
            for packet in stream.encode():
                container.mux(packet)
    assert decode_frame_indices(read_video_frames(path, [3, 19])) == [3, 19]


def test_phone_hevc_portrait_video_with_b_frames(tmp_path):
    path = write_video(tmp_path / "IMG_0001.mov", 40, width=64, height=48, codec="libx265", gop_size=10,
                       rotation=-90, options={"x265-params": "log-level=none:bframes=3:pools=1"})  # fmt: skip
    with VideoReader(path) as reader:
        assert (reader.info.width, reader.info.height, reader.info.rotation) == (48, 64, -90)
        indices = sample_frame_indices(40, 8).tolist() + [39, 30]
        frames = reader.read(indices)
    # upright frames: turn them back to decode the index pattern
    assert [decode_frame_index(np.rot90(frame, k=-3)) for frame in frames] == indices


# ----------------------------------------------------------------------------------------------- model inputs


@pytest.fixture(scope="module", name="tiny_model")
def tiny_model_fixture():
    return tiny_models.tiny_model()


def test_channels_last_pixel_values_name_the_expected_shape(tiny_model):
    with pytest.raises(ValueError, match=r"\(batch_size, 4, 3, 32, 32\).*channels-last.*permute\(0, 1, 4, 2, 3\)"):
        tiny_model(pixel_values=torch.zeros(1, 4, 32, 32, 3))


def test_wrong_frame_size_names_the_expected_shape(tiny_model):
    with pytest.raises(ValueError, match=r"\(batch_size, 4, 3, 32, 32\): frames of 32x32 pixels, got 40x24"):
        tiny_model(pixel_values=torch.zeros(1, 4, 3, 24, 40))
    with pytest.raises(ValueError, match="must be a tensor"):
        tiny_model(pixel_values=None)
    with pytest.raises(ValueError, match=r"floating point frames normalised by the video processor, got torch.uint8"):
        tiny_model(pixel_values=torch.zeros(1, 4, 3, 32, 32, dtype=torch.uint8))


def test_other_frame_count_warns_for_timesformer(tiny_model):
    backbones_msqnet.logger.warning_once.cache_clear()
    with CaptureLogger(backbones_msqnet.logger) as captured, torch.no_grad():
        logits = tiny_model(pixel_values=torch.zeros(1, 2, 3, 32, 32)).logits
    assert logits.shape == (1, 5)
    assert "`pixel_values` has 2 frames but the model was built for `config.num_frames`=4" in captured.out
    assert "(batch_size, 4, 3, 32, 32)" in captured.out


def test_other_frame_count_is_an_error_for_videomae():
    model = tiny_models.tiny_model(video_config=dict(VIDEOMAE_CONFIG, num_hidden_layers=1), use_video_query=False)
    with pytest.raises(ValueError, match=r"videomae takes exactly `config.num_frames`=4 frames, got 8"):
        model(pixel_values=torch.zeros(1, 8, 3, 32, 32))


@pytest.mark.parametrize("model_type", ["vivit", "videomae"])
def test_other_frame_count_is_an_error_for_fixed_position_tables(model_type):
    model = tiny_model(video_config=dict(BACKBONE_CONFIGS[model_type]))
    with pytest.raises(ValueError, match=rf"{model_type} takes exactly `config.num_frames`=4 frames, got 6"):
        model(pixel_values=torch.zeros(1, 6, 3, 32, 32))


@pytest.mark.parametrize("model_type", ["vjepa2", "dinov2"])
def test_other_frame_count_warns_where_positions_follow(model_type):
    model = tiny_model(video_config=dict(BACKBONE_CONFIGS[model_type]))
    backbones_msqnet.logger.warning_once.cache_clear()
    with CaptureLogger(backbones_msqnet.logger) as captured, torch.no_grad():
        logits = model(pixel_values=torch.zeros(1, 8, 3, 32, 32)).logits
    assert logits.shape == (1, 5)
    assert "`pixel_values` has 8 frames but the model was built for `config.num_frames`=4" in captured.out


def test_vjepa2_frame_count_must_fill_its_tubelets():
    model = tiny_model(video_config=dict(BACKBONE_CONFIGS["vjepa2"]))
    with pytest.raises(ValueError, match="tubelets of 2, so the frame count must be a multiple of 2, got 5"):
        model(pixel_values=torch.zeros(1, 5, 3, 32, 32))


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_pixel_values_are_an_error_naming_count_and_clips(tiny_model, bad_value):
    pixel_values = torch.zeros(3, 4, 3, 32, 32)
    pixel_values[1, 0, 0, :2, 0] = bad_value
    pixel_values[2, 3, 2, 5, 5] = bad_value
    message = r"holds 3 non-finite values \(NaN or infinity\) in 2 of 3 clip\(s\) \(clip 1: 2, clip 2: 1\)"
    with pytest.raises(ValueError, match=message):
        tiny_model(pixel_values=pixel_values)
    with pytest.raises(ValueError, match=message):
        tiny_model.msqnet(pixel_values=pixel_values)


def test_large_finite_pixel_values_are_not_taken_for_non_finite(tiny_model):
    """The check's float32 sum may overflow on huge but finite values: the exact count then clears them."""
    pixel_values = torch.full((1, 4, 3, 32, 32), 3e38)
    with torch.no_grad():
        assert tiny_model(pixel_values=pixel_values).logits.shape == (1, 5)


def test_pipeline_with_another_frame_count_warns(tiny_model, tmp_path):
    from transformers import pipeline

    path = write_video(tmp_path / "clip.mp4", 12, width=32, height=32)
    processor = small_processor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    classifier = pipeline("video-classification", model=tiny_model, video_processor=processor)
    backbones_msqnet.logger.warning_once.cache_clear()
    with CaptureLogger(backbones_msqnet.logger) as captured:
        predictions = classifier(path, num_frames=8)
    assert len(predictions) == 5
    assert "`pixel_values` has 8 frames but the model was built for `config.num_frames`=4" in captured.out


def test_frame_folder_numbering_rules(tmp_path):
    def folder_with(*names):
        folder = tmp_path / f"case_{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        for index, name in enumerate(names):
            write_image(folder / name, index_frame(index, 16, 16))
        return folder

    # the number that changes is the frame number; a constant one (a version, a camera) is not
    folder = folder_with("cam2_frame_1_v2.png", "cam2_frame_2_v2.png", "cam2_frame_10_v2.png")
    with pytest.raises(VideoDecodingError, match=r"missing 7 of the frames numbered 1 to 10 \(frame 3, 4, "):
        probe_video(folder)
    assert probe_video(folder_with("cam2_frame_1_v2.png", "cam2_frame_2_v2.png")).num_frames == 2
    # zero padding does not make two images different frames
    with pytest.raises(VideoDecodingError, match=r"1 frame\(s\) with more than one image \(e.g. frame_06.png, "):
        probe_video(folder_with("frame_5.png", "frame_6.png", "frame_06.png"))
    # an image outside the numbering (a cover, a thumbnail) is not silently taken as a frame
    with pytest.raises(VideoDecodingError, match=r"do not follow one numbering \(cover.png and frame_1.png\)"):
        probe_video(folder_with("frame_1.png", "frame_2.png", "cover.png"))
    # unnumbered frames are ordered by name
    assert probe_video(folder_with("a.png", "b.png", "c.png")).num_frames == 3


# ----------------------------------------------------------------------------------------------- whole runs


def test_training_run_with_a_pipe_a_text_file_and_a_one_pixel_clip_skips_them(tmp_path):
    """One tiny training run with evaluation: the bad inputs are skipped and listed, nothing blocks or crashes."""
    import json
    import signal

    from accelerate.state import AcceleratorState, GradientState

    from modeling_msqnet.data.synthetic_actions import generate_benchmark
    from modeling_msqnet.training.arguments import parse_args
    from modeling_msqnet.training.training import train

    root = tmp_path / "bench"
    generate_benchmark(root, num_train=6, num_test=3, num_frames=8, size=32, seed=0, progress=False)
    labels = json.loads((root / "labels.json").read_text())
    os.mkfifo(root / "videos" / "camera_pipe.mp4")
    (root / "videos" / "notes.txt").write_text("trail camera 4, battery low\n" * 10)
    write_video(root / "videos" / "one_pixel.mkv", 8, width=1, height=1, codec="ffv1", pix_fmt="bgr0")
    bad = [{"video": f"videos/{name}", "labels": [labels[0]]} for name in ("camera_pipe.mp4", "notes.txt")]
    bad.append({"video": "videos/one_pixel.mkv", "labels": [labels[1]]})
    for split in ("train", "test"):
        lines = (root / f"{split}.jsonl").read_text().splitlines() + [json.dumps(entry) for entry in bad]
        (root / f"{split}_with_bad.jsonl").write_text("\n".join(lines) + "\n")
    config = tiny_config(id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)})
    config.to_json_file(root / "tiny_config.json")
    argv = [
        "--model", str(root / "tiny_config.json"), "--train_manifest", str(root / "train_with_bad.jsonl"),
        "--eval_manifest", str(root / "test_with_bad.jsonl"), "--output_dir", str(tmp_path / "out"),
        "--max_train_steps", "2", "--per_device_train_batch_size", "3", "--max_skipped_fraction", "0.6",
    ]  # fmt: skip

    def blocked(*args):
        raise TimeoutError("the run blocked")

    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(240)
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    try:
        train(parse_args(argv))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    expected = {"camera_pipe.mp4": "named pipe", "notes.txt": "notes.txt", "one_pixel.mkv": "too small"}
    skipped = json.loads((tmp_path / "out" / "training_history.json").read_text())["train_skipped"]
    errors = {os.path.basename(entry["video"]): entry["error"] for entry in skipped["videos"]}
    assert skipped["count"] == 3 and sorted(errors) == sorted(expected)
    assert all(expected[name] in error for name, error in errors.items()), errors
    # evaluation (at the end of training) skips the pipe and the text file too, and reports them
    report = (tmp_path / "out" / "eval_report.json").read_text()
    assert "camera_pipe.mp4" in report and "notes.txt" in report
    assert (tmp_path / "out" / "model.safetensors").is_file()
