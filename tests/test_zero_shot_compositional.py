"""The compositional zero-shot variant of the generated benchmark: its labels, the relabelled manifests and the splits."""

import json
from pathlib import Path

import pytest

from modeling_msqnet.data.synthetic_actions import COLOURS, TEST_ACTORS, generate_benchmark, sample_split_specs
from modeling_msqnet.zero_shot import SETTINGS, SPLITS_DIR, load_split, num_seen_classes, validate_split_file
from modeling_msqnet.zero_shot.compositional import (
    COMPOSITIONAL_ACTIONS,
    COMPOSITIONAL_COLOURS,
    COMPOSITIONAL_DATASET,
    compositional_label_names,
    compositional_labels,
    compositional_split,
    contrasts_taught,
    generate_compositional_split_file,
    main,
    relabel_benchmark,
    word_swap,
    words_covered,
)
from modeling_msqnet.zero_shot.protocol import read_label_names


SPLIT_FILE = SPLITS_DIR / f"{COMPOSITIONAL_DATASET}.json"


def test_label_names_compose_every_colour_with_every_direction():
    names = compositional_label_names()
    assert len(names) == len(set(names)) == len(COMPOSITIONAL_COLOURS) * len(COMPOSITIONAL_ACTIONS) == 12
    assert names[:2] == ["red actor moving left", "red actor moving right"]
    assert names[-1] == "blue actor moving down"
    assert len(compositional_label_names(COLOURS)) == 32
    with pytest.raises(ValueError, match="distinct names from"):
        compositional_label_names(["red", "violet"])
    assert compositional_labels("blue", ("moving left", "moving down", "shaking")) == [
        "blue actor moving left",
        "blue actor moving down",
    ]
    assert compositional_labels("blue", ("bouncing", "shaking")) == []


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory):
    root = tmp_path_factory.mktemp("compositional")
    generate_benchmark(
        root / "bench", num_train=40, num_test=16, num_frames=2, size=16, progress=False, colours=COMPOSITIONAL_COLOURS
    )
    return root


def test_a_palette_changes_the_colours_only():
    everything = sample_split_specs("train", 200, seed=3)
    rgb = sample_split_specs("train", 200, seed=3, colours=["blue", "red", "green"])
    assert {spec.colour for spec in rgb} == set(COMPOSITIONAL_COLOURS)
    assert [spec.actions for spec in rgb] == [spec.actions for spec in everything]
    assert [(spec.actor, spec.size, spec.seed) for spec in rgb] == [(s.actor, s.size, s.seed) for s in everything]


def test_relabelled_manifests_name_each_clip_by_its_colour_and_directions(benchmark):
    summary = relabel_benchmark(benchmark / "bench", benchmark / "variant")
    variant = benchmark / "variant"
    names, problem_type, _ = read_label_names(variant / "labels.json")
    assert names == compositional_label_names() and problem_type == "multi_label_classification"
    for split, num_clips in (("train", 40), ("test", 16)):
        specs = sample_split_specs(split, num_clips, seed=0, colours=COMPOSITIONAL_COLOURS)
        originals = [json.loads(line) for line in (benchmark / "bench" / f"{split}.jsonl").read_text().splitlines()]
        records = [json.loads(line) for line in (variant / f"{split}.jsonl").read_text().splitlines()]
        by_video = {(benchmark / "bench" / o["video"]).resolve(): spec for o, spec in zip(originals, specs)}
        for record in records:
            spec = by_video[(variant / record["video"]).resolve()]  # the path points at the benchmark's clip
            assert record["labels"] == compositional_labels(spec.colour, spec.actions) != []
            assert record["colour"] == spec.colour and record["actor"] == spec.actor
            assert "changing colour" not in spec.actions
            if split == "test":
                assert record["actor"] in TEST_ACTORS  # unseen actors stay unseen
        counts = summary["splits"][split]
        no_direction = sum(
            not compositional_labels(s.colour, s.actions) and "changing colour" not in s.actions for s in specs
        )
        assert counts["num_clips"] == len(records) == num_clips - sum(counts["dropped"].values()) > 0
        assert counts["dropped"].get("no directional action", 0) == no_direction
        assert counts["dropped"].get("changing colour", 0) == sum("changing colour" in s.actions for s in specs)
        assert sum(counts["label_counts"].values()) == sum(len(r["labels"]) for r in records)


def test_relabelling_refuses_a_manifest_that_is_not_the_generated_one(benchmark, tmp_path):
    with pytest.raises(ValueError, match="info.json is missing"):
        relabel_benchmark(tmp_path, tmp_path / "out")
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "info.json").write_text((benchmark / "bench" / "info.json").read_text())
    (bench / "test.jsonl").write_text((benchmark / "bench" / "test.jsonl").read_text())
    lines = (benchmark / "bench" / "train.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["actor"] = "heart"
    (bench / "train.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    with pytest.raises(ValueError, match=r"train.jsonl:1: .*differ from the clip the seed 0 draws"):
        relabel_benchmark(bench, tmp_path / "out")


def test_split_file_is_valid_and_its_seen_classes_carry_every_unseen_word_and_contrast():
    content = json.loads(SPLIT_FILE.read_text())
    names = compositional_label_names()
    validate_split_file(content, names, where=str(SPLIT_FILE))
    assert content["labels"] == names
    for setting, fraction in SETTINGS.items():
        splits = content["splits"][setting]
        assert len(splits) == 10 and len({tuple(split["seen"]) for split in splits}) == 10
        for split in splits:
            assert not set(split["seen"]) & set(split["unseen"])
            assert sorted(split["seen"] + split["unseen"]) == sorted(names)
            assert len(split["seen"]) == num_seen_classes(12, fraction)
            seen_words = {word for name in split["seen"] for word in name.split()}
            assert all(set(name.split()) <= seen_words for name in split["unseen"])
            assert contrasts_taught(split["seen"], split["unseen"])
    assert (
        load_split(COMPOSITIONAL_DATASET, "75_seen", 1, names)["unseen"] == content["splits"]["75_seen"][1]["unseen"]
    )


def test_split_file_records_its_command_and_seed_and_regenerates(tmp_path):
    content = json.loads(SPLIT_FILE.read_text())
    assert content["command"].startswith("python -m modeling_msqnet.zero_shot.compositional splits")
    assert f"--seed {content['seed']}" in content["command"]
    assert generate_compositional_split_file(seed=content["seed"])["splits"] == content["splits"]
    main(["splits", "--seed", "0", "--num_splits", "2", "--output", str(tmp_path / "splits.json")])
    written = json.loads(Path(tmp_path / "splits.json").read_text())
    assert written["splits"]["50_seen"] == content["splits"]["50_seen"][:2]


def test_word_coverage_rejects_a_split_that_hides_a_word():
    names = compositional_label_names()
    red = [name for name in names if name.startswith("red ")]
    assert not words_covered([name for name in names if name not in red], red)  # "red" occurs in no seen class
    assert words_covered(names[1:], names[:1])
    split = compositional_split(names, 0.5, seed=3)
    assert words_covered(split["seen"], split["unseen"]) and split["draws"] >= 1


def test_contrasts_taught_rejects_a_split_where_no_seen_pair_tells_left_from_right():
    assert word_swap("red actor moving left", "red actor moving right") == {"left", "right"}
    assert word_swap("red actor moving left", "green actor moving left") == {"red", "green"}
    assert word_swap("red actor moving left", "green actor moving right") is None
    assert word_swap("red actor moving left", "red actor moving left") is None
    names = compositional_label_names()
    # A split of the earlier file (seed 3): its words are all covered, but "red actor moving right" and the unseen
    # "red actor moving left" differ in left/right, and no two seen classes do.
    seen = [
        "red actor moving right", "red actor moving up", "red actor moving down",
        "green actor moving left", "blue actor moving left", "blue actor moving down",
    ]  # fmt: skip
    unseen = [name for name in names if name not in seen]
    assert words_covered(seen, unseen)
    assert not contrasts_taught(seen, unseen)
    # Every colour moving right, and blue in every direction: each contrast is taught by a seen pair.
    seen = [name for name in names if name.startswith("blue ") or name.endswith(" right")]
    assert contrasts_taught(seen, [name for name in names if name not in seen])
    # A seen class that differs from no unseen class in one word needs no contrast.
    assert contrasts_taught(names, [])
