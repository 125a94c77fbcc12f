"""Converters from official annotation files (small copies in the real formats under tests/fixtures/) to manifests."""

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest
from video_fixtures import write_video

from modeling_msqnet.data import (
    convert_animal_kingdom,
    convert_charades,
    convert_dataset,
    convert_hmdb51,
    convert_hockey,
    convert_thumos14,
    convert_thumos14_trimmed,
    convert_volleyball,
    load_label_set,
    load_manifest_dataset,
    resolve_media,
)


FIXTURES = Path(__file__).parent / "fixtures"
REPO_ROOT = Path(__file__).resolve().parents[1]


def make_media(root: Path, names, kind="frames"):
    """Frame folders (with one file) or empty video files named `names` under `root`."""
    for name in names:
        path = root / name
        if kind == "frames":
            path.mkdir(parents=True, exist_ok=True)
            (path / "000001.jpg").write_bytes(b"")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
    return root


def by_id(result):
    return {entry["id"]: entry for entry in result.entries}


# ---------------------------------------------------------------- Animal Kingdom


def test_animal_kingdom_frame_list_maps_class_ids_to_names(tmp_path):
    labels = load_label_set("animal_kingdom")["labels"]
    make_media(tmp_path, ["AAACXZTV", "ABCDWXYZ"])
    make_media(tmp_path, ["AAAUILHH.mp4"], kind="video")
    result = convert_animal_kingdom(FIXTURES / "animal_kingdom" / "val.csv", tmp_path)

    entries = by_id(result)
    assert list(entries) == ["AAACXZTV", "AAAUILHH", "ABCDWXYZ"]
    assert entries["AAACXZTV"] == {
        "video": str(tmp_path / "AAACXZTV"),
        "labels": ["Attending", "Eating"],
        "id": "AAACXZTV",
    }
    assert labels[2] == "Attending" and labels[40] == "Eating"
    # Labels are the union over the clip's frames, in class order; a video file is found by extension.
    assert entries["AAAUILHH"]["labels"] == ["Abseiling", "Walking"]
    assert entries["AAAUILHH"]["video"] == str(tmp_path / "AAAUILHH.mp4")
    # Quoted label fields ("102,1,39") are read too.
    assert entries["ABCDWXYZ"]["labels"] == [labels[1], labels[39], labels[102]]
    assert result.skipped == {"media not found": 1}
    assert result.skipped_examples["media not found"] == ["ZZZMISSI"]


def test_animal_kingdom_light_csv_gives_the_same_clips(tmp_path):
    make_media(tmp_path, ["AAACXZTV", "AAAUILHH", "ABCDWXYZ"])
    full = convert_animal_kingdom(FIXTURES / "animal_kingdom" / "val.csv", tmp_path)
    light = convert_animal_kingdom(FIXTURES / "animal_kingdom" / "val_light.csv", tmp_path)
    assert by_id(light)["AAACXZTV"] == by_id(full)["AAACXZTV"]
    assert by_id(light)["ABCDWXYZ"] == by_id(full)["ABCDWXYZ"]
    assert by_id(light)["AAAUILHH"]["labels"] == ["Walking"]  # the light file keeps the first frame's labels only


NO_MEDIA = dict(check_media=False, media_format="frames")
# (converter, annotation file, its text, converter options, the error it must raise)
BAD_ANNOTATIONS = [
    (
        convert_animal_kingdom,
        "bad_id.csv",
        "original_vido_id video_id frame_id path labels\nAAAA 1 1 AAAA/AAAA_t000001.jpg 140\n",
        NO_MEDIA,
        r"bad_id.csv:2: class id 140 is out of range",
    ),
    (
        convert_animal_kingdom,
        "bad_fields.csv",
        "original_vido_id video_id frame_id path labels\nAAAA 1 1 2,3\n",
        {},
        r"bad_fields.csv:2: expected 5 space-separated fields",
    ),
    (convert_animal_kingdom, "bad_header.csv", "clip,labels\n", {}, "unknown header"),
    (
        convert_charades,
        "bad.csv",
        "id,actions,length\nAAAA,c15 1.0 2.0,3.0\n",
        NO_MEDIA,
        r"bad.csv:2: expected actions like 'c092 11.90 21.20'",
    ),
]


@pytest.mark.parametrize("converter, name, text, options, message", BAD_ANNOTATIONS)
def test_annotation_errors_name_file_and_line(tmp_path, converter, name, text, options, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=message):
        converter(tmp_path / name, tmp_path, **options)


# ---------------------------------------------------------------- Charades


def test_charades_video_level_labels_and_unlabelled_videos(tmp_path):
    labels = load_label_set("charades")["labels"]
    make_media(tmp_path, ["46GP8", "N11GT", "0IH69"])
    result = convert_charades(
        FIXTURES / "charades" / "Charades_v1_test.csv",
        tmp_path,
        classes_file=FIXTURES / "charades" / "Charades_v1_classes.txt",
    )
    entries = by_id(result)
    assert entries["46GP8"]["labels"] == [labels[92], labels[147]]
    assert entries["46GP8"]["video"] == str(tmp_path / "46GP8")
    # c071 appears twice: one label.
    assert (
        entries["N11GT"]["labels"]
        == [labels[71], labels[153]]
        == ["Putting a blanket somewhere", "Someone is sneezing"]
    )
    assert entries["0IH69"]["labels"] == []  # kept as an all-negative example, as Charades' evaluation does
    assert result.skipped == {"media not found": 1}
    assert any("1 videos without actions" in note for note in result.notes)

    dropped = convert_charades(FIXTURES / "charades" / "Charades_v1_test.csv", tmp_path, keep_unlabelled=False)
    assert "0IH69" not in by_id(dropped) and dropped.skipped["video without actions"] == 1


def test_charades_with_video_files_without_checking(tmp_path):
    result = convert_charades(
        FIXTURES / "charades" / "Charades_v1_test.csv", tmp_path, media_format=".mp4", check_media=False
    )
    assert [entry["video"] for entry in result.entries] == [
        str(tmp_path / f"{name}.mp4") for name in ("46GP8", "N11GT", "0IH69", "KRF68")
    ]
    assert by_id(result)["KRF68"]["labels"] == ["Holding some clothes", "Someone is eating something"]


def test_charades_classes_file_errors(tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("c000 Holding some clothes\nc001 Something else\n")
    with pytest.raises(ValueError, match=r"classes.txt:2: class c001"):
        convert_charades(FIXTURES / "charades" / "Charades_v1_test.csv", tmp_path, classes_file=classes)


# ---------------------------------------------------------------- Hockey


def test_hockey_test_clips_from_frame_folders(tmp_path):
    make_media(tmp_path, ["period1-1-1-gray", "period1-1-6-gray"])
    result = convert_hockey(FIXTURES / "hockey", tmp_path, split="test", clip_length=30, stride=10)
    # Only part 6 (50 labelled frames): clips at frames 0, 10, 20.
    assert [entry["id"] for entry in result.entries] == [f"period1-1-6-gray@{first}" for first in (0, 10, 20)]
    first, _, last = result.entries
    assert first["labels"] == ["Face-Off", "Play"]
    assert last["labels"] == ["Celebration", "Goal", "Play"]
    # Frame folders get the nominal 30 fps; start/end sit half a frame inside the clip's bounds.
    assert first["fps"] == 30.0 and first["start"] == 0.0 and first["end"] == pytest.approx(29.5 / 30)
    assert last["start"] == pytest.approx(19.5 / 30) and last["end"] == pytest.approx(49.5 / 30)


def test_hockey_train_split_default_stride_and_sampled_frame_labels(tmp_path):
    make_media(tmp_path, ["period1-1-1-gray", "period1-1-6-gray"])
    result = convert_hockey(FIXTURES / "hockey", tmp_path, split="train")  # stride 10, 40 frames: clips at 0, 10
    assert [entry["id"] for entry in result.entries] == ["period1-1-1-gray@0", "period1-1-1-gray@10"]
    assert result.entries[0]["labels"] == ["Shot", "Save", "Play"]
    sampled = convert_hockey(
        FIXTURES / "hockey", tmp_path, split="train", clip_length=10, stride=30, label_num_frames=2
    )
    # Clip 0 = frames 0-9, middle frames 2 and 7: only Play; clip 30 = frames 30-39: Save.
    assert [entry["labels"] for entry in sampled.entries] == [["Play"], ["Save"]]
    assert len(convert_hockey(FIXTURES / "hockey", tmp_path, split="all", stride=10).entries) == 5


def test_hockey_video_file_uses_its_frame_rate_and_reads_the_right_frames(tmp_path):
    from video_fixtures import decode_frame_indices

    from modeling_msqnet.hub_code.video_decoding import VideoReader

    shutil.copy(FIXTURES / "hockey" / "period1-1-6-gray-label.txt", tmp_path)
    write_video(tmp_path / "period1-1-6-gray.mp4", 50, fps=25)
    result = convert_hockey(tmp_path, split="test", stride=10)
    assert "fps" not in result.entries[0]
    clip = result.entries[2]
    assert clip["start"] == pytest.approx(19.5 / 25) and clip["end"] == pytest.approx(49.5 / 25)
    with VideoReader(clip["video"], start=clip["start"], end=clip["end"]) as reader:
        assert reader.info.num_frames == 30
        assert decode_frame_indices(reader.read([0, 29])) == [20, 49]


def test_hockey_errors(tmp_path):
    (tmp_path / "period1-1-6-gray-label.txt").write_text("0,1\n")
    with pytest.raises(ValueError, match=r"period1-1-6-gray-label.txt:1: expected 12 comma-separated 0/1 flags"):
        convert_hockey(tmp_path, check_media=False, media_format="frames")
    with pytest.raises(FileNotFoundError, match="No Hockey label files"):
        convert_hockey(tmp_path / "nowhere")


# ---------------------------------------------------------------- THUMOS14


def test_thumos14_segments(tmp_path):
    make_media(tmp_path, ["video_test_0000324.mp4", "video_test_0000062.mp4"], kind="video")
    result = convert_thumos14(FIXTURES / "thumos14" / "annotations_test", tmp_path)
    segments = [(Path(entry["video"]).stem, entry["labels"], entry["start"], entry["end"]) for entry in result.entries]
    assert segments == [
        ("video_test_0000324", ["BaseballPitch"], 1.0, 4.0),
        ("video_test_0000324", ["BaseballPitch"], 12.5, 15.2),
        ("video_test_0000062", ["CliffDiving"], 30.5, 34.3),
        ("video_test_0000062", ["Diving"], 30.5, 34.3),
    ]
    assert result.skipped == {
        "media not found": 2,  # video_test_0000664 and video_test_0009999
        "empty or negative segment (end <= start)": 1,
        "ambiguous segment": 2,
    }
    assert any("1 segments are annotated with more than one class" in note for note in result.notes)
    assert any("no annotation file for the classes" in note for note in result.notes)


def test_thumos14_frame_folders_need_fps(tmp_path):
    make_media(tmp_path, ["video_test_0000324", "video_test_0000062"])
    with pytest.raises(ValueError, match="pass `fps`"):
        convert_thumos14(FIXTURES / "thumos14" / "annotations_test", tmp_path)
    result = convert_thumos14(FIXTURES / "thumos14" / "annotations_test", tmp_path, fps=30)
    assert {entry["fps"] for entry in result.entries} == {30.0}


def test_thumos14_errors(tmp_path):
    (tmp_path / "BaseballPitch_test.txt").write_text("video_test_0000324 1.0\n")
    with pytest.raises(ValueError, match=r"BaseballPitch_test.txt:1: expected 'video_name start end'"):
        convert_thumos14(tmp_path, tmp_path)
    (tmp_path / "BaseballPitch_val.txt").write_text("")
    with pytest.raises(ValueError, match="pass `split='val'` or `split='test'`"):
        convert_thumos14(tmp_path, tmp_path)


def test_thumos14_trimmed_class_folders(tmp_path):
    make_media(tmp_path, ["BaseballPitch/v_BaseballPitch_g01_c01.avi", "Diving/v_Diving_g02_c01.avi"], kind="video")
    make_media(tmp_path, ["Diving/v_Diving_g01_c01", "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01"])
    result = convert_thumos14_trimmed(tmp_path)
    assert [(entry["id"], entry["labels"]) for entry in result.entries] == [
        ("v_BaseballPitch_g01_c01", ["BaseballPitch"]),
        ("v_Diving_g01_c01", ["Diving"]),
        ("v_Diving_g02_c01", ["Diving"]),
    ]
    assert result.skipped == {"class folder not in the label set": 1}


# ---------------------------------------------------------------- HMDB51


def test_hmdb51_official_split_flags(tmp_path):
    splits = FIXTURES / "hmdb51" / "testTrainMulti_7030_splits"
    make_media(
        tmp_path,
        [
            "brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0.avi",
            "brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_1.avi",
            "cartwheel/(Rad)Schlag_die_Bank!_cartwheel_f_cm_np1_le_med_0.avi",
            "cartwheel/Acrobacias_de_un_fenomeno_cartwheel_f_cm_np1_ba_bad_8.avi",
        ],
        kind="video",
    )
    make_media(tmp_path, ["brush_hair/Blonde_being_brushed_brush_hair_f_nm_np2_ri_med_0"])  # a frame folder

    test = convert_hmdb51(splits, tmp_path, split="test")
    assert [(entry["id"], entry["labels"]) for entry in test.entries] == [
        ("April_09_brush_hair_u_nm_np1_ba_goo_1", ["brush_hair"]),
        ("Blonde_being_brushed_brush_hair_f_nm_np2_ri_med_0", ["brush_hair"]),
        ("(Rad)Schlag_die_Bank!_cartwheel_f_cm_np1_le_med_0", ["cartwheel"]),
    ]
    assert test.entries[1]["video"] == str(
        tmp_path / "brush_hair" / "Blonde_being_brushed_brush_hair_f_nm_np2_ri_med_0"
    )
    assert test.skipped == {"in the train split": 2, "not used in split 1 (flag 0)": 1}
    assert any("no split file for the classes" in note for note in test.notes)

    train = convert_hmdb51(splits, tmp_path, split="train")
    assert [entry["id"] for entry in train.entries] == [
        "April_09_brush_hair_u_nm_np1_ba_goo_0",
        "Acrobacias_de_un_fenomeno_cartwheel_f_cm_np1_ba_bad_8",
    ]
    split2 = convert_hmdb51(splits, tmp_path, split="test", split_number=2)
    assert [entry["id"] for entry in split2.entries] == ["Acrobacias_de_un_fenomeno_cartwheel_f_cm_np1_ba_bad_8"]


def test_hmdb51_errors(tmp_path):
    (tmp_path / "juggling_test_split1.txt").write_text("a.avi 1\n")
    with pytest.raises(ValueError, match="class 'juggling' is not one of the 51 HMDB51 classes"):
        convert_hmdb51(tmp_path, tmp_path)
    (tmp_path / "juggling_test_split1.txt").unlink()
    (tmp_path / "wave_test_split1.txt").write_text("a.avi 3\n")
    with pytest.raises(ValueError, match=r"wave_test_split1.txt:1: expected '<video>.avi <0\|1\|2>'"):
        convert_hmdb51(tmp_path, tmp_path)


# ---------------------------------------------------------------- Volleyball


def test_volleyball_player_actions_per_annotated_frame(tmp_path):
    root = tmp_path / "volleyball"
    shutil.copytree(FIXTURES / "volleyball", root)
    make_media(root, ["1/16345", "1/16575", "4/34880", "0/3596"])

    train = convert_volleyball(root, split="train")
    assert [(entry["id"], entry["labels"]) for entry in train.entries] == [
        ("1/16345", ["Setting", "Standing", "Waiting"]),
        ("1/16575", ["Blocking", "Jumping", "Spiking"]),
    ]
    assert train.entries[0]["video"] == os.path.join(root, "1", "16345")
    assert train.skipped["video folder without annotations.txt"] == 23  # the fixture holds 1 of the 24 train videos
    test = convert_volleyball(root, split="test")
    assert [(entry["id"], entry["labels"]) for entry in test.entries] == [
        ("4/34880", ["Digging", "Falling", "Moving"])
    ]
    assert [entry["id"] for entry in convert_volleyball(root, split="trainval").entries] == [
        "0/3596",
        "1/16345",
        "1/16575",
    ]


def test_volleyball_errors(tmp_path):
    (tmp_path / "4").mkdir()
    (tmp_path / "4" / "annotations.txt").write_text("34880.jpg r-pass 1 2 3 4 dancing\n")
    with pytest.raises(ValueError, match=r"annotations.txt:1: unknown player action 'dancing'"):
        convert_volleyball(tmp_path, check_media=False)
    (tmp_path / "4" / "annotations.txt").write_text("34880.jpg r-pass 1 2 3 waiting\n")
    with pytest.raises(ValueError, match=r"annotations.txt:1: expected '<frame_id>.jpg <group_activity>'"):
        convert_volleyball(tmp_path, check_media=False)


# ---------------------------------------------------------------- shared pieces and the CLI


def test_resolve_media_forms(tmp_path):
    make_media(tmp_path, ["a"])
    make_media(tmp_path, ["b.avi"], kind="video")
    assert resolve_media(tmp_path, "a") == str(tmp_path / "a")
    assert resolve_media(tmp_path, "b") == str(tmp_path / "b.avi")
    assert resolve_media(tmp_path, "b.avi") == str(tmp_path / "b.avi")
    assert resolve_media(tmp_path, "c") is None
    assert resolve_media(tmp_path, "c", ".mp4", check_media=False) == str(tmp_path / "c.mp4")
    assert resolve_media(tmp_path, "b", ".mp4") is None
    with pytest.raises(ValueError, match="media_format"):
        resolve_media(tmp_path, "a", "mp4")


def test_converted_entries_load_as_a_manifest_dataset(tmp_path):
    from modeling_msqnet.data import write_manifest

    make_media(tmp_path / "media", ["video_test_0000324.mp4", "video_test_0000062.mp4"], kind="video")
    label_set = load_label_set("thumos14")
    result = convert_dataset("thumos14", FIXTURES / "thumos14" / "annotations_test", tmp_path / "media")
    write_manifest(result.entries, tmp_path / "out" / "test.jsonl", relative_paths=True)
    first_line = json.loads((tmp_path / "out" / "test.jsonl").read_text().splitlines()[0])
    assert first_line["video"] == os.path.join("..", "media", "video_test_0000324.mp4")
    dataset = load_manifest_dataset(
        tmp_path / "out" / "test.jsonl", label_set["label2id"], problem_type=label_set["problem_type"]
    )
    assert dataset["label_ids"] == [[0], [0], [4], [7]]
    assert dataset["video"][0] == str(tmp_path / "media" / "video_test_0000324.mp4")
    assert dataset["start"][:2] == [1.0, 12.5]


def load_prepare_dataset_script():
    spec = importlib.util.spec_from_file_location("prepare_dataset", REPO_ROOT / "examples" / "prepare_dataset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prepare_dataset_cli_reports_written_and_skipped(tmp_path, capsys):
    script = load_prepare_dataset_script()
    make_media(tmp_path / "image", ["AAACXZTV", "AAAUILHH", "ABCDWXYZ"])
    output = tmp_path / "val.jsonl"
    code = script.main(
        [
            "--dataset",
            "animal_kingdom",
            "--annotations",
            str(FIXTURES / "animal_kingdom" / "val.csv"),
            "--root",
            str(tmp_path / "image"),
            "--output",
            str(output),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "Wrote 3 entries" in printed and "(1 skipped)" in printed
    assert "skipped 1: media not found (e.g. ZZZMISSI)" in printed
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert lines[0] == {
        "video": str(tmp_path / "image" / "AAACXZTV"),
        "labels": ["Attending", "Eating"],
        "id": "AAACXZTV",
    }

    with pytest.raises(SystemExit, match="--split-number do"):
        script.main(
            [
                "--dataset",
                "charades",
                "--annotations",
                "x.csv",
                "--root",
                ".",
                "--output",
                "o.jsonl",
                "--split-number",
                "2",
            ]
        )


def test_prepare_dataset_cli_hockey_without_root(tmp_path, capsys):
    script = load_prepare_dataset_script()
    for name in ("period1-1-1-gray-label.txt", "period1-1-6-gray-label.txt"):
        shutil.copy(FIXTURES / "hockey" / name, tmp_path)
    make_media(tmp_path, ["period1-1-6-gray"])
    code = script.main(
        [
            "--dataset",
            "hockey",
            "--annotations",
            str(tmp_path),
            "--split",
            "test",
            "--fps",
            "25",
            "--output",
            str(tmp_path / "test.jsonl"),
        ]
    )
    assert code == 0
    lines = [json.loads(line) for line in (tmp_path / "test.jsonl").read_text().splitlines()]
    assert len(lines) == 1 and lines[0]["fps"] == 25.0 and lines[0]["labels"] == ["Face-Off", "Play"]


def test_converters_and_the_reader_share_one_natural_order(tmp_path):
    """One folder, one order: the converters sort names like the frame reader (by number, ignoring case)."""
    from modeling_msqnet.hub_code import video_decoding

    names = ["B_Diving_2.avi", "a_Diving_10.avi", "a_Diving_9.avi"]
    make_media(tmp_path, [f"Diving/{name}" for name in names], kind="video")
    converted = [Path(entry["video"]).name for entry in convert_thumos14_trimmed(tmp_path).entries]
    assert converted == ["a_Diving_9.avi", "a_Diving_10.avi", "B_Diving_2.avi"]
    assert converted == sorted(names, key=video_decoding.natural_sort_key)
