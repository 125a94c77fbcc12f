"""Label sets, manifests, the on-the-fly decoding/augmentation transform and the batch collator."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from video_fixtures import decode_frame_indices, write_frame_folder, write_video

from modeling_msqnet.data import (
    ClipAugmentation,
    FixedSizeCollator,
    ManifestError,
    MSQNetVideoTransform,
    available_label_sets,
    check_label_names,
    check_skipped_share,
    check_videos_exist,
    load_label_set,
    load_manifest_dataset,
    multi_hot,
    multiscale_crop_candidates,
    read_manifest,
    write_manifest,
)
from modeling_msqnet.hub_code.video_processing_msqnet import MSQNetVideoProcessor
from modeling_msqnet.training.dataloaders import IndexedTransform


# The project's reference label lists, beside the checkout when present (not shipped with the repository).
REFERENCE_LABELS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "labels"
LABEL_SET_SIZES = {"animal_kingdom": 140, "charades": 157, "hockey": 12, "thumos14": 20, "hmdb51": 51, "volleyball": 9}
LABEL2ID = {"run": 0, "jump": 1, "swim": 2}


# ---------------------------------------------------------------- label sets


@pytest.mark.parametrize("name", sorted(LABEL_SET_SIZES))
def test_label_sets_have_the_official_size_and_order(name):
    label_set = load_label_set(name)
    assert label_set["name"] == name
    assert label_set["num_labels"] == len(label_set["labels"]) == LABEL_SET_SIZES[name]
    assert label_set["label2id"] == {label: index for index, label in enumerate(label_set["labels"])}
    assert label_set["id2label"][0] == label_set["labels"][0]
    single_label = name in ("thumos14", "hmdb51")
    assert label_set["problem_type"] == (
        "single_label_classification" if single_label else "multi_label_classification"
    )
    assert label_set["metric"] == {"animal_kingdom": "mAP", "charades": "mAP"}.get(
        name, "accuracy" if single_label else "multilabel_accuracy"
    )
    reference = REFERENCE_LABELS / f"{name}.json"
    if reference.is_file():  # the project's reference copies (not shipped with the repository)
        assert label_set["labels"] == json.loads(reference.read_text())


def test_label_set_order_spot_checks():
    """Official orders that are not alphabetical, checked without the reference files."""
    animal_kingdom = load_label_set("animal_kingdom")["labels"]
    assert animal_kingdom[69:72] == ["Landing", "Lying down", "Laying eggs"]
    assert animal_kingdom[48:51] == ["Flapping", "Flapping tail", "Flapping its ears"]
    assert animal_kingdom[-1] == "Yawning"
    assert load_label_set("hockey")["labels"][-3:] == ["Shot", "Save", "Play"]
    charades = load_label_set("charades")["labels"]
    assert charades[0] == "Holding some clothes" and charades[156] == "Someone is eating something"
    assert load_label_set("hmdb51")["labels"] == sorted(load_label_set("hmdb51")["labels"])
    assert set(available_label_sets()) >= set(LABEL_SET_SIZES)


def test_load_label_set_from_path_and_errors(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"labels": ["a", "b"], "problem_type": "single_label_classification"}))
    label_set = load_label_set(path)
    assert label_set["name"] == "mine" and label_set["label2id"] == {"a": 0, "b": 1}
    with pytest.raises(FileNotFoundError, match="animal_kingdom"):
        load_label_set("no_such_dataset")
    path.write_text(json.dumps({"labels": ["a", "a"]}))
    with pytest.raises(ValueError, match=r"repeats the class names \['a'\]"):
        load_label_set(path)
    path.write_text(json.dumps({"labels": ["a"], "num_labels": 2}))
    with pytest.raises(ValueError, match="num_labels=2"):
        load_label_set(path)


# ---------------------------------------------------------------- manifests


def write_lines(path: Path, lines) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_manifest_round_trip_into_a_dataset(tmp_path):
    (tmp_path / "videos").mkdir()
    manifest = write_lines(
        tmp_path / "train.jsonl",
        [
            {"video": "videos/a.mp4", "labels": ["jump", "run"]},
            "",
            {"video": "/abs/b", "labels": [], "start": 1.5, "end": 4, "fps": 24, "id": 7},
            {"video": "c.mp4", "labels": ["swim", "swim"], "start": None},
        ],
    )
    dataset = load_manifest_dataset(manifest, LABEL2ID)
    assert len(dataset) == 3
    assert {"video", "labels", "label_ids", "start", "end"} <= set(dataset.column_names)
    assert dataset["video"] == [str(tmp_path / "videos" / "a.mp4"), "/abs/b", str(tmp_path / "c.mp4")]
    assert dataset["labels"] == [["jump", "run"], [], ["swim"]]
    assert dataset["label_ids"] == [[1, 0], [], [2]]
    assert dataset["start"] == [None, 1.5, None] and dataset["end"] == [None, 4.0, None]
    assert dataset["fps"] == [None, 24.0, None] and dataset["id"] == [None, "7", None]
    assert dataset["line"] == [1, 3, 4] and dataset["index"] == [0, 1, 2]

    # write_manifest -> read_manifest keeps everything, with absolute or relative paths.
    entries = read_manifest(manifest, LABEL2ID)
    for relative in (False, True):
        copy = tmp_path / "copy" / f"relative_{relative}.jsonl"
        assert write_manifest(entries, copy, relative_paths=relative) == 3
        reread = read_manifest(copy, LABEL2ID)
        assert [(e["video"], e["labels"], e["start"], e["end"], e["fps"]) for e in reread] == [
            (e["video"], e["labels"], e["start"], e["end"], e["fps"]) for e in entries
        ]
    assert json.loads((tmp_path / "copy" / "relative_True.jsonl").read_text().splitlines()[0])[
        "video"
    ] == os.path.join("..", "videos", "a.mp4")


@pytest.mark.parametrize(
    "line,message",
    [
        ('{"video": "a.mp4", "labels": ["run"]', r"invalid JSON"),
        ('["a.mp4", ["run"]]', r"expected a JSON object"),
        ('{"labels": ["run"]}', r"missing the required key 'video'"),
        ('{"video": "", "labels": ["run"]}', r"'video' must be a non-empty string"),
        ('{"video": "a.mp4"}', r"missing the required key 'labels'"),
        ('{"video": "a.mp4", "labels": "run"}', r"'labels' must be a list of class names"),
        ('{"video": "a.mp4", "labels": [1]}', r"'labels' must be a list of class names"),
        ('{"video": "a.mp4", "labels": ["runn"]}', r"unknown label 'runn'.*Did you mean \['run'\]"),
        ('{"video": "a.mp4", "labels": ["run"], "start": 3, "end": 3}', r"'start' \(3.0 s\) must be before 'end'"),
        ('{"video": "a.mp4", "labels": ["run"], "start": -1}', r"'start' must be >= 0"),
        ('{"video": "a.mp4", "labels": ["run"], "end": "5"}', r"'end' must be a finite number"),
        ('{"video": "a.mp4", "labels": ["run"], "fps": 0}', r"'fps' must be > 0"),
    ],
)
def test_manifest_errors_name_file_and_line(tmp_path, line, message):
    manifest = write_lines(tmp_path / "bad.jsonl", [{"video": "ok.mp4", "labels": ["run"]}, line])
    with pytest.raises(ManifestError, match=rf"bad.jsonl:2: {message}"):
        load_manifest_dataset(manifest, LABEL2ID)


def test_manifest_single_label_empty_and_missing_files(tmp_path):
    manifest = write_lines(
        tmp_path / "m.jsonl", [{"video": "a.mp4", "labels": ["run"]}, {"video": "b.mp4", "labels": ["run", "jump"]}]
    )
    assert len(read_manifest(manifest, LABEL2ID)) == 2
    with pytest.raises(ManifestError, match=r"m.jsonl:2: a single-label dataset needs exactly one label"):
        read_manifest(manifest, LABEL2ID, problem_type="single_label_classification")
    with pytest.raises(ManifestError, match=r"(?s)2 video\(s\) of the manifest .*m.jsonl:1: .*a.mp4"):
        read_manifest(manifest, LABEL2ID, check_files=True)
    with pytest.raises(ManifestError, match="holds no entries"):
        read_manifest(write_lines(tmp_path / "empty.jsonl", ["", ""]), LABEL2ID)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_manifest(tmp_path / "nowhere.jsonl", LABEL2ID)
    # The class names in index order work as well as a label2id dict; a missing mapping is a clear error.
    assert [entry["label_ids"] for entry in read_manifest(manifest, ["jump", "run"])] == [[1], [1, 0]]
    with pytest.raises(ValueError, match="`label2id` must be a non-empty dict"):
        read_manifest(manifest, None)


# ---------------------------------------------------------------- transform and collator

NUM_FRAMES = 4


@pytest.fixture(scope="module")
def video_processor():
    return MSQNetVideoProcessor(
        num_frames=NUM_FRAMES, size={"shortest_edge": 64}, crop_size={"height": 56, "width": 56}
    )


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    write_video(root / "clip.mp4", 40, width=96, height=64, fps=20)
    write_frame_folder(root / "frames", 30, width=64, height=48)
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    return root


def manifest_dataset(root: Path, lines, problem_type=None):
    return load_manifest_dataset(write_lines(root / "m.jsonl", lines), LABEL2ID, problem_type=problem_type)


def test_eval_transform_equals_the_processor_at_inference(tmp_path, media, video_processor):
    dataset = manifest_dataset(media, [{"video": "clip.mp4", "labels": ["jump"]}])
    dataset.set_transform(MSQNetVideoTransform(video_processor, num_labels=3))
    example = dataset[0]
    expected = video_processor(str(media / "clip.mp4"), return_tensors="pt")["pixel_values"][0]
    assert example["pixel_values"].shape == (NUM_FRAMES, 3, 56, 56)
    torch.testing.assert_close(example["pixel_values"], expected, rtol=0, atol=0)
    assert example["labels"].dtype == torch.float32 and example["labels"].tolist() == [0.0, 1.0, 0.0]
    assert example["decoding_error"] is None and example["video"] == str(media / "clip.mp4")


def test_transform_reads_the_clip_window(media, video_processor):
    transform = MSQNetVideoTransform(video_processor, num_labels=3)
    # Frame folder at a nominal 10 fps, window [1.0 s, 2.0 s) = frames 10..19; middle frames of 4 segments.
    frames = transform.decode(str(media / "frames"), start=1.0, end=2.0, fps=10)
    assert decode_frame_indices(frames) == [11, 13, 16, 18]
    frames = transform.decode(str(media / "clip.mp4"), start=0.5, end=1.5)  # 20 fps: frames 10..29
    assert decode_frame_indices(frames) == [12, 17, 22, 27]


def test_train_transform_is_reproducible_and_changes_with_the_epoch(media, video_processor):
    dataset = manifest_dataset(
        media, [{"video": "clip.mp4", "labels": ["run"]}, {"video": "frames", "labels": ["swim"]}]
    )
    transform = MSQNetVideoTransform(video_processor, num_labels=3, train=True, seed=3)
    dataset.set_transform(transform)
    first = [dataset[index]["pixel_values"] for index in range(2)]
    assert first[0].shape == first[1].shape == (NUM_FRAMES, 3, 56, 56)
    # Same seed and epoch, any access order and a fresh transform: identical.
    dataset.set_transform(MSQNetVideoTransform(video_processor, num_labels=3, train=True, seed=3))
    assert torch.equal(dataset[1]["pixel_values"], first[1]) and torch.equal(dataset[0]["pixel_values"], first[0])
    batch = dataset[0:2]
    assert torch.equal(batch["pixel_values"][0], first[0])
    # Another epoch or seed draws other frames/crops.
    transform.set_epoch(1)
    dataset.set_transform(transform)
    assert not torch.equal(dataset[0]["pixel_values"], first[0])
    dataset.set_transform(MSQNetVideoTransform(video_processor, num_labels=3, train=True, seed=4))
    assert not torch.equal(dataset[0]["pixel_values"], first[0])

    # A dataset built elsewhere, without the `index` column (nor start/end/fps): seeded from the clip itself.
    import datasets

    plain = datasets.Dataset.from_dict({"video": [str(media / "clip.mp4")], "label_ids": [[0]]})
    plain.set_transform(MSQNetVideoTransform(video_processor, num_labels=3, train=True, seed=3))
    again = plain[0]["pixel_values"]
    plain.set_transform(MSQNetVideoTransform(video_processor, num_labels=3, train=True, seed=3))
    assert again.shape == (NUM_FRAMES, 3, 56, 56) and torch.equal(plain[0]["pixel_values"], again)


def test_train_frames_are_random_within_their_segments(media, video_processor):
    transform = MSQNetVideoTransform(video_processor, num_labels=3, train=True)
    seen = set()
    for index in range(12):
        indices = decode_frame_indices(
            transform.decode(str(media / "clip.mp4"), rng=transform.example_generator(index))
        )
        for segment, frame_index in enumerate(indices):  # 40 frames, 4 segments of 10
            assert 10 * segment <= frame_index < 10 * (segment + 1)
        seen.add(tuple(indices))
    assert len(seen) > 1


def test_augmentation_is_identical_across_frames_and_follows_the_recipe(video_processor):
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.integers(0, 256, size=(3, 90, 120), dtype=np.uint8))
    clip = image.expand(5, 3, 90, 120).contiguous()  # five identical frames
    augmentation = ClipAugmentation(crop_size=(56, 56))
    for seed in range(20):
        augmented = augmentation(clip, np.random.default_rng(seed))
        assert augmented.shape == (5, 3, 56, 56) and augmented.dtype == torch.uint8
        assert all(torch.equal(augmented[0], frame) for frame in augmented[1:])

    # The parameters: TSN multi-scale crop sizes and offsets, flip / jitter / grayscale at their probabilities.
    pairs, offsets = multiscale_crop_candidates(90, 120, (56, 56))
    parameters = [augmentation.sample_parameters(90, 120, np.random.default_rng(seed)) for seed in range(400)]
    for parameter in parameters:
        top, left, height, width = parameter["crop"]
        assert (height, width) in pairs and (top, left) in offsets(height, width)
        assert top + height <= 90 and left + width <= 120
    assert 0.4 < np.mean([p["flip"] for p in parameters]) < 0.6
    assert 0.72 < np.mean([p["jitter"] is not None for p in parameters]) < 0.88
    assert 0.14 < np.mean([p["grayscale"] for p in parameters]) < 0.26
    factors = [p["jitter"] for p in parameters if p["jitter"] is not None]
    assert all(
        0.6 <= f["brightness"] <= 1.4 and 0.8 <= f["saturation"] <= 1.2 and abs(f["hue"]) <= 0.1 for f in factors
    )


def test_multiscale_crop_candidates_follow_tsn():
    pairs, offsets = multiscale_crop_candidates(256, 340, (224, 224))
    # Short side 256: sides 256, 224, 192, 168 (224 snapped); width/height scales at most one step apart.
    assert sorted(pairs) == sorted(
        [
            (256, 256),
            (256, 224),
            (224, 256),
            (224, 224),
            (224, 192),
            (192, 224),
            (192, 192),
            (192, 168),
            (168, 192),
            (168, 168),
        ]
    )
    corners = offsets(224, 224)
    assert len(corners) == 13 and (0, 0) in corners and (32, 116) in corners and (16, 58) in corners  # steps 8, 29


def test_augmentation_without_randomness_matches_torchvision_ops():
    from torchvision.transforms.v2 import functional as F

    clip = torch.from_numpy(np.random.default_rng(1).integers(0, 256, size=(2, 3, 64, 80), dtype=np.uint8))
    augmentation = ClipAugmentation(
        crop_size=(32, 32), flip_probability=1.0, jitter_probability=0.0, grayscale_probability=1.0
    )
    parameters = augmentation.sample_parameters(64, 80, np.random.default_rng(0))
    top, left, height, width = parameters["crop"]
    expected = F.rgb_to_grayscale(
        F.horizontal_flip(F.resize(F.crop(clip, top, left, height, width), [32, 32], antialias=True)),
        num_output_channels=3,
    )
    assert torch.equal(augmentation.apply(clip, parameters), expected)


def test_single_label_examples_get_a_class_index(media, video_processor):
    dataset = manifest_dataset(media, [{"video": "clip.mp4", "labels": ["swim"]}], "single_label_classification")
    dataset.set_transform(MSQNetVideoTransform(video_processor, 3, "single_label_classification"))
    labels = dataset[0]["labels"]
    assert labels.dtype == torch.int64 and labels.ndim == 0 and labels.item() == 2


def test_unreadable_videos_are_dropped_counted_and_reported(media, video_processor):
    lines = [
        {"video": "clip.mp4", "labels": ["run"]},
        {"video": "corrupt.mp4", "labels": ["jump"]},
        {"video": "missing.mp4", "labels": ["swim"]},
        {"video": "frames", "labels": ["swim"], "start": 50.0, "end": 60.0, "fps": 10},  # window past the end
    ]
    dataset = manifest_dataset(media, lines)
    dataset.set_transform(MSQNetVideoTransform(video_processor, num_labels=3))
    examples = [dataset[index] for index in range(4)]
    assert examples[0]["decoding_error"] is None
    for example in examples[1:]:
        assert example["pixel_values"] is None and example["video"] in example["decoding_error"]

    collator = FixedSizeCollator((NUM_FRAMES, 3, 56, 56))
    batch = collator([{**example, "index": index} for index, example in enumerate(examples)])
    assert batch["valid"].tolist() == [True, False, False, False] and batch["index"].tolist() == [0, 1, 2, 3]
    assert batch["pixel_values"].shape == (4, NUM_FRAMES, 3, 56, 56) and not batch["pixel_values"][1:].any()
    assert batch["pixel_values"][0].any() and batch["labels"][0].tolist() == [1.0, 0.0, 0.0]
    assert [(item["video"], item["index"]) for item in batch["skipped"]] == [
        (str(media / name), index) for index, name in enumerate(("corrupt.mp4", "missing.mp4", "frames"), start=1)
    ]
    assert "does not exist" in batch["skipped"][1]["error"]

    # A batch in which every video failed keeps its rows, all masked out.
    batch = collator([{**example, "index": index} for index, example in enumerate(examples[1:3])])
    assert batch["valid"].tolist() == [False, False] and len(batch["skipped"]) == 2


def test_dataloader_end_to_end(media, video_processor):
    lines = [
        {"video": "clip.mp4", "labels": ["run", "swim"]},
        {"video": "corrupt.mp4", "labels": ["jump"]},
        {"video": "frames", "labels": []},
    ]
    dataset = manifest_dataset(media, lines)
    dataset.set_transform(IndexedTransform(MSQNetVideoTransform(video_processor, num_labels=3, train=True)))
    collator = FixedSizeCollator((NUM_FRAMES, 3, 56, 56))
    loader = torch.utils.data.DataLoader(dataset, batch_size=3, collate_fn=collator)
    (batch,) = list(loader)
    assert batch["pixel_values"].shape == (3, NUM_FRAMES, 3, 56, 56) and batch["pixel_values"].dtype == torch.float32
    assert batch["valid"].tolist() == [True, False, True]
    assert batch["labels"].tolist() == [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    assert [item["video"] for item in batch["skipped"]] == [str(media / "corrupt.mp4")]


def test_manifest_and_label_set_with_a_byte_order_mark(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"")
    manifest = tmp_path / "bom.jsonl"
    manifest.write_bytes(b"\xef\xbb\xbf" + json.dumps({"video": "clip.mp4", "labels": ["run"]}).encode() + b"\n")
    [entry] = read_manifest(manifest, LABEL2ID)
    assert entry["labels"] == ["run"] and entry["line"] == 1
    label_set = tmp_path / "labels.json"
    label_set.write_bytes(b"\xef\xbb\xbf" + json.dumps({"labels": ["a", "b"]}).encode())
    assert load_label_set(label_set)["labels"] == ["a", "b"]


def test_extra_keys_are_kept(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"video": "a.mp4", "labels": ["run"], "actor": "disc"}) + "\n")
    [entry] = read_manifest(manifest, LABEL2ID, extra_keys=("actor", "camera"))
    assert (entry["actor"], entry["camera"]) == ("disc", None)


def test_missing_and_unreadable_shares(tmp_path):
    lines = []
    for i in range(5):
        if i < 4:
            (tmp_path / f"v{i}.mp4").write_bytes(b"")
        lines.append(json.dumps({"video": f"v{i}.mp4", "labels": ["run"]}))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    entries = read_manifest(manifest, LABEL2ID)
    assert check_videos_exist(entries, manifest) == 1  # 1 of 5 missing: 20%, within the default bound
    assert check_videos_exist(load_manifest_dataset(manifest, LABEL2ID), manifest) == 1
    with pytest.raises(
        ManifestError, match=r"1 of 5 videos \(20%\) do not exist, more than --max_skipped_fraction 0.1"
    ):
        check_videos_exist(entries, manifest, max_skipped_fraction=0.1)
    with pytest.raises(ManifestError, match=r"m\.jsonl:5: .*v4\.mp4"):
        check_videos_exist(entries, manifest, max_skipped_fraction=0.0)
    with pytest.raises(ManifestError, match="all 3 videos could not be read"):
        check_skipped_share(3, 3, manifest, "could not be read", max_skipped_fraction=1.0)
    check_skipped_share(0, 3, manifest, "could not be read", max_skipped_fraction=0.0)


def test_label_names_and_multi_hot():
    assert check_label_names(("a", "b"), "x") == ["a", "b"]
    for names, message in (([], "non-empty list"), (["a", ""], r"indices \[1\]"), (["a", "a"], "repeats")):
        with pytest.raises(ValueError, match=message):
            check_label_names(names, "--labels x.json")
    np.testing.assert_array_equal(multi_hot([[1], [0, 3], []], 4), [[0, 1, 0, 0], [1, 0, 0, 1], [0, 0, 0, 0]])
