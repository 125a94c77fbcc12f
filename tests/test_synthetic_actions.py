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
"""Tests of the generated actor-agnostic action benchmark: labels match what is drawn, layout, determinism, CLI."""

import ast
import dataclasses
import json
import os
import subprocess
import sys
from collections import Counter

import av
import numpy as np
import pytest

from modeling_msqnet.data import synthetic_actions
from modeling_msqnet.data.synthetic_actions import (
    ACTION_GROUPS,
    ACTIONS,
    ACTORS,
    TEST_ACTORS,
    TRAIN_ACTORS,
    ClipSpec,
    are_compatible,
    generate_benchmark,
    main,
    render_clip,
    sample_clip_spec,
    sample_split_specs,
)


MOTIONS = {"moving left", "moving right", "moving up", "moving down", "bouncing", "shaking"}


def centroid(mask):
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def decode(path):
    with av.open(os.fspath(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def rotated_iou(mask_a, mask_b, degrees):
    """IoU of `mask_b` with `mask_a` turned by `degrees` (clockwise on screen) about its centroid and moved onto the
    centroid of `mask_b` (nearest-neighbour inverse warp)."""
    centre_a, centre_b = centroid(mask_a), centroid(mask_b)
    rows, columns = np.mgrid[0 : mask_b.shape[0], 0 : mask_b.shape[1]].astype(float)
    cos, sin = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    dx, dy = columns - centre_b[0], rows - centre_b[1]
    source_x = np.rint(cos * dx + sin * dy + centre_a[0]).astype(int)
    source_y = np.rint(-sin * dx + cos * dy + centre_a[1]).astype(int)
    inside = (source_x >= 0) & (source_x < mask_a.shape[1]) & (source_y >= 0) & (source_y < mask_a.shape[0])
    warped = np.zeros_like(mask_b)
    warped[inside] = mask_a[source_y[inside], source_x[inside]]
    return (warped & mask_b).sum() / (warped | mask_b).sum()


def estimated_rotation(mask_a, mask_b):
    """The turn (degrees, clockwise positive, |angle| in [2, 34]) that best maps `mask_a` onto `mask_b`."""
    candidates = np.concatenate([-np.arange(2, 36, 2), np.arange(2, 36, 2)])
    return candidates[int(np.argmax([rotated_iou(mask_a, mask_b, degrees) for degrees in candidates]))]


@pytest.fixture(scope="module")
def rendered_clips():
    """300 random clips of both splits, with their specs, rendered at 64x64x16."""
    rng = np.random.default_rng(1234)
    specs = [sample_clip_spec(rng, "train" if index % 2 else "test") for index in range(300)]
    return [(spec, *render_clip(spec)) for spec in specs]


class TestVocabularyAndSampling:
    def test_vocabulary_groups_and_actor_splits(self):
        assert len(ACTIONS) >= 12 and len(set(ACTIONS)) == len(ACTIONS)
        # The groups partition the vocabulary.
        assert sorted(action for group in ACTION_GROUPS for action in group) == sorted(ACTIONS)
        assert set(TRAIN_ACTORS).isdisjoint(TEST_ACTORS)
        assert set(TRAIN_ACTORS) | set(TEST_ACTORS) == set(ACTORS)
        assert len(TRAIN_ACTORS) >= 6 and len(TEST_ACTORS) >= 3

    def test_incompatible_pairs(self):
        for pair in [
            ("moving left", "moving right"),
            ("moving up", "moving down"),
            ("moving up", "bouncing"),
            ("moving down", "bouncing"),
            ("growing", "shrinking"),
            ("rotating clockwise", "rotating anticlockwise"),
        ]:
            assert not are_compatible(pair)
            with pytest.raises(ValueError, match="not compatible"):
                ClipSpec("disc", "red", "solid", 0.3, "solid", pair, 0)
        assert are_compatible(("moving left", "moving up", "rotating clockwise"))
        assert are_compatible(("bouncing", "moving right", "shaking"))

    @pytest.mark.parametrize(
        "field, value, message",
        [
            ("actor", "dragon", "actor"),
            ("colour", "mauve", "colour"),
            ("texture", "plaid", "texture"),
            ("background", "sky", "background"),
            ("size", 0.9, "size"),
            ("actions", (), "1 to 3"),
            ("actions", ("moving left", "blinking", "shaking", "growing"), "1 to 3"),
            ("actions", ("flying",), "unknown"),
            ("actions", ("blinking", "moving left"), "order"),
        ],
    )
    def test_clip_spec_rejects_bad_fields(self, field, value, message):
        valid = ClipSpec("disc", "red", "solid", 0.3, "solid", ("moving left",), 0)
        with pytest.raises(ValueError, match=message):
            dataclasses.replace(valid, **{field: value})

    def test_bad_arguments(self, tmp_path):
        spec = ClipSpec("disc", "red", "solid", 0.3, "solid", ("moving left",), 0)
        with pytest.raises(ValueError, match="split"):
            sample_clip_spec(np.random.default_rng(0), "validation")
        with pytest.raises(ValueError, match="num_frames"):
            render_clip(spec, num_frames=1)
        with pytest.raises(ValueError, match="size"):
            render_clip(spec, size=8)
        with pytest.raises(ValueError, match="even"):
            generate_benchmark(tmp_path, num_train=1, num_test=1, size=33)
        with pytest.raises(ValueError, match="num_train"):
            generate_benchmark(tmp_path, num_train=-1)
        with pytest.raises(ValueError, match="nothing to generate"):
            generate_benchmark(tmp_path, num_train=0, num_test=0)

    @pytest.mark.parametrize("split, actors", [("train", TRAIN_ACTORS), ("test", TEST_ACTORS)])
    def test_sampled_specs_are_valid_balanced_and_unconfounded(self, split, actors):
        specs = sample_split_specs(split, 3000, seed=7)
        assert {spec.actor for spec in specs} == set(actors)
        for spec in specs:
            assert 1 <= len(spec.actions) <= 3
            assert set(spec.actions) <= set(ACTIONS)
            assert are_compatible(spec.actions)

        # Every action about equally frequent (expected 1/6 of the clips each), and 1, 2 or 3 actions equally often.
        action_counts = Counter(action for spec in specs for action in spec.actions)
        frequencies = np.array([action_counts[action] for action in ACTIONS]) / len(specs)
        np.testing.assert_allclose(frequencies, 1 / 6, atol=0.025)
        cardinalities = Counter(len(spec.actions) for spec in specs)
        np.testing.assert_allclose([cardinalities[k] / len(specs) for k in (1, 2, 3)], 1 / 3, atol=0.04)

        # Actions are drawn independently of the actor kind: P(action | actor) is close to P(action).
        for actor in actors:
            of_actor = [spec for spec in specs if spec.actor == actor]
            counts = Counter(action for spec in of_actor for action in spec.actions)
            conditional = np.array([counts[action] for action in ACTIONS]) / len(of_actor)
            np.testing.assert_allclose(conditional, frequencies, atol=0.09)

    def test_all_compatible_pairs_occur(self):
        specs = sample_split_specs("train", 3000, seed=8)
        pairs = {(a, b) for spec in specs for a in spec.actions for b in spec.actions if a < b}
        expected = {(a, b) for a in ACTIONS for b in ACTIONS if a < b and are_compatible((a, b))}
        assert pairs == expected


class TestLabelsMatchWhatIsDrawn:
    def test_shapes_and_types(self, rendered_clips):
        spec, frames, mask = rendered_clips[0]
        assert frames.shape == (16, 64, 64, 3) and frames.dtype == np.uint8
        assert mask.shape == (16, 64, 64) and mask.dtype == bool
        frames, mask = render_clip(spec, num_frames=9, size=32)
        assert frames.shape == (9, 32, 32, 3) and mask.shape == (9, 32, 32)

    def test_translations(self, rendered_clips):
        checked = Counter()
        for spec, _, mask in rendered_clips:
            visible = np.flatnonzero(mask.any(axis=(1, 2)))
            dx, dy = centroid(mask[visible[-1]]) - centroid(mask[visible[0]])
            actions = set(spec.actions)
            if "moving left" in actions:
                assert dx < -12, (spec, dx)
            elif "moving right" in actions:
                assert dx > 12, (spec, dx)
            else:
                assert abs(dx) < 1.0, (spec, dx)
            if "moving up" in actions:
                assert dy < -12, (spec, dy)
            elif "moving down" in actions:
                assert dy > 12, (spec, dy)
            else:  # bouncing comes back to its floor
                assert abs(dy) < 1.0, (spec, dy)
            checked.update(actions & MOTIONS)
        assert all(checked[motion] >= 10 for motion in MOTIONS), checked

    def test_actor_without_motion_label_does_not_move(self, rendered_clips):
        still = 0
        for spec, _, mask in rendered_clips:
            if MOTIONS & set(spec.actions):
                continue
            visible = np.flatnonzero(mask.any(axis=(1, 2)))
            centroids = np.stack([centroid(mask[t]) for t in visible])
            assert np.abs(centroids - centroids[0]).max() < 1.0, spec
            still += 1
        assert still >= 30

    def test_bouncing_and_shaking_move_without_drift(self, rendered_clips):
        for spec, _, mask in rendered_clips:
            actions = set(spec.actions)
            visible = np.flatnonzero(mask.any(axis=(1, 2)))
            centroids = np.stack([centroid(mask[t]) for t in visible])
            if "bouncing" in actions:
                # Goes up from its floor and comes back (the floor is the lowest point, up to the shaking).
                tolerance = 1.0 + (synthetic_actions._SHAKE_AMPLITUDE_RANGE[1] * 64 if "shaking" in actions else 0.0)
                # (Blinking may hide some of the highest frames.)
                assert centroids[:, 1].max() - centroids[:, 1].min() > (5 if "blinking" in actions else 10), spec
                assert centroids[0, 1] >= centroids[:, 1].max() - tolerance, spec
            if actions == {"shaking"}:
                steps = np.abs(np.diff(centroids, axis=0)).max(axis=1)
                assert np.median(steps) > 2.0, spec
                assert np.abs(centroids[-1] - centroids[0]).max() < 1.0, spec

    def test_growing_and_shrinking(self, rendered_clips):
        for spec, _, mask in rendered_clips:
            area = mask.sum(axis=(1, 2))
            area = area[area > 0]
            ratio = area[-1] / area[0]
            if "growing" in spec.actions:
                assert ratio > 2.0 and np.all(np.diff(area) > -0.15 * area[:-1]), (spec, ratio)
            elif "shrinking" in spec.actions:
                assert ratio < 0.5, (spec, ratio)
            else:
                assert 0.8 < area.min() / area.max(), (spec, area)

    def test_blinking(self, rendered_clips):
        for spec, frames, mask in rendered_clips:
            shown = mask.any(axis=(1, 2))
            if "blinking" in spec.actions:
                assert 2 <= (~shown).sum() <= len(shown) // 2 + 1, (spec, shown)
                assert shown[0] and shown[-1]
                hidden = np.flatnonzero(~shown)[0]
                # The background alone is drawn: the frame without the actor differs where the actor was.
                assert np.abs(frames[hidden].astype(int) - frames[0]).sum(-1)[mask[0]].mean() > 60
            else:
                assert shown.all(), spec

    def test_changing_colour(self, rendered_clips):
        for spec, frames, mask in rendered_clips:
            visible = np.flatnonzero(mask.any(axis=(1, 2)))
            colours = np.stack([frames[t][mask[t]].astype(float).mean(axis=0) for t in visible])
            from_first = np.linalg.norm(colours - colours[0], axis=1)
            if "changing colour" in spec.actions:
                assert from_first.max() > 80, (spec, from_first)
                if "blinking" not in spec.actions:  # (switches may fall on hidden frames)
                    # Abrupt switches to clearly different colours, every few frames.
                    jumps = np.linalg.norm(np.diff(colours, axis=0), axis=1)
                    assert (jumps > 60).sum() >= 2, (spec, jumps)
            else:
                assert from_first.max() < 20, (spec, from_first)

    @pytest.mark.parametrize("actor", ACTORS)
    def test_rotation_direction_and_constant_area(self, actor):
        for actions, sign in [(("rotating clockwise",), 1), (("rotating anticlockwise",), -1), (("blinking",), 0)]:
            spec = ClipSpec(actor, "green", "solid", 0.3, "gradient", actions, seed=11)
            _, mask = render_clip(spec)
            shown = np.flatnonzero(mask.any(axis=(1, 2)))
            area = mask[shown].sum(axis=(1, 2))
            assert area.min() / area.max() > 0.8, (actor, actions, area)
            pairs = [(t, t + 1) for t in shown[:-1] if t + 1 in shown]
            if sign == 0:
                assert all(np.array_equal(mask[a], mask[b]) for a, b in pairs)
                continue
            turns = np.array([estimated_rotation(mask[a], mask[b]) for a, b in pairs])
            assert np.all(np.sign(turns) == sign), (actor, actions, turns)
            # The generator turns by a per-clip speed drawn from its range; the estimate is on a 2-degree grid and
            # the masks are pixelated, hence the slack.
            low, high = synthetic_actions._ROTATION_SPEED_RANGE_DEGREES
            assert low - 3 <= np.median(np.abs(turns)) <= high + 3, (actor, actions, turns)
            # The orientation changes: the mask is not the same shape at the start and a few frames later.
            assert rotated_iou(mask[0], mask[3], 0) < 0.9

    def test_rendering_is_deterministic(self, rendered_clips):
        spec, frames, mask = rendered_clips[5]
        again_frames, again_mask = render_clip(spec)
        np.testing.assert_array_equal(frames, again_frames)
        np.testing.assert_array_equal(mask, again_mask)
        other_frames, _ = render_clip(dataclasses.replace(spec, seed=spec.seed + 1))
        assert not np.array_equal(frames, other_frames)


GENERATION = {"num_train": 14, "num_test": 7, "num_frames": 8, "size": 32, "fps": 4, "seed": 3, "progress": False}


@pytest.fixture(scope="module")
def benchmark_dir(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("benchmark")
    summary = generate_benchmark(output_dir, **GENERATION)
    return output_dir, summary


def read_manifest(path):
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file]


class TestGenerateBenchmark:
    def test_layout_and_manifests(self, benchmark_dir):
        output_dir, summary = benchmark_dir
        with open(output_dir / "labels.json", encoding="utf-8") as file:
            labels = json.load(file)
        assert labels == list(ACTIONS)
        for split, count, actors in [("train", 14, TRAIN_ACTORS), ("test", 7, TEST_ACTORS)]:
            records = read_manifest(output_dir / f"{split}.jsonl")
            assert len(records) == count == summary[split]["num_clips"]
            for index, record in enumerate(records):
                assert set(record) == {"video", "labels", "actor"}
                assert record["video"] == f"videos/{split}_{index:05d}.mp4"
                assert (output_dir / record["video"]).is_file()
                assert 1 <= len(record["labels"]) <= 3 and set(record["labels"]) <= set(labels)
                assert are_compatible(record["labels"])
                assert record["actor"] in actors
            label_counts = Counter(label for record in records for label in record["labels"])
            assert summary[split]["label_counts"] == {action: label_counts[action] for action in ACTIONS}
        with open(output_dir / "info.json", encoding="utf-8") as file:
            info = json.load(file)
        assert info["train_actors"] == list(TRAIN_ACTORS) and info["test_actors"] == list(TEST_ACTORS)
        assert info["splits"]["test"]["num_clips"] == 7 and info["seed"] == 3 and info["num_frames"] == 8
        assert "ring" in (output_dir / "README.md").read_text()

    def test_videos_decode_to_the_rendered_clips(self, benchmark_dir):
        output_dir, _ = benchmark_dir
        for split in ("train", "test"):
            specs = sample_split_specs(split, GENERATION[f"num_{split}"], seed=GENERATION["seed"])
            for spec, record in zip(specs, read_manifest(output_dir / f"{split}.jsonl")):
                assert record["labels"] == list(spec.actions) and record["actor"] == spec.actor
                frames = decode(output_dir / record["video"])
                assert frames.shape == (8, 32, 32, 3)
                rendered, _ = render_clip(spec, num_frames=8, size=32)
                # Lossy H.264 (yuv420p halves the colour resolution) but the same picture.
                assert np.abs(frames.astype(int) - rendered).mean() < 8
        with av.open(os.fspath(output_dir / "videos" / "train_00000.mp4")) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
            assert stream.average_rate == 4

    def test_same_seed_same_benchmark_other_seed_differs(self, benchmark_dir, tmp_path):
        output_dir, _ = benchmark_dir
        generate_benchmark(tmp_path / "again", **GENERATION)
        for name in ("labels.json", "train.jsonl", "test.jsonl", "info.json", "README.md"):
            assert (tmp_path / "again" / name).read_bytes() == (output_dir / name).read_bytes(), name
        for record in read_manifest(output_dir / "test.jsonl"):
            np.testing.assert_array_equal(
                decode(tmp_path / "again" / record["video"]), decode(output_dir / record["video"])
            )

        generate_benchmark(tmp_path / "other", **{**GENERATION, "seed": 4})
        assert (tmp_path / "other" / "train.jsonl").read_bytes() != (output_dir / "train.jsonl").read_bytes()
        video = "videos/test_00000.mp4"
        assert not np.array_equal(decode(tmp_path / "other" / video), decode(output_dir / video))

    def test_cli_writes_the_layout(self, tmp_path):
        output_dir = tmp_path / "cli"
        main(
            ["--output_dir", str(output_dir), "--num_train", "3", "--num_test", "2", "--num_frames", "6"]
            + ["--size", "16", "--seed", "5", "--no_progress"]
        )
        assert {"labels.json", "train.jsonl", "test.jsonl", "info.json", "README.md", "videos"} <= set(
            os.listdir(output_dir)
        )
        assert (
            len(read_manifest(output_dir / "train.jsonl")) == 3 and len(read_manifest(output_dir / "test.jsonl")) == 2
        )
        assert decode(output_dir / "videos" / "test_00001.mp4").shape == (6, 16, 16, 3)
        with pytest.raises(SystemExit) as error:
            main(["--output_dir", str(output_dir), "--size", "33"])
        assert error.value.code == 2

    def test_python_dash_m(self, tmp_path):
        command = [sys.executable, "-m", "modeling_msqnet.data.synthetic_actions", "--output_dir", str(tmp_path)]
        command += ["--num_train", "2", "--num_test", "1", "--num_frames", "4", "--size", "16", "--no_progress"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert [record["video"] for record in read_manifest(tmp_path / "test.jsonl")] == ["videos/test_00000.mp4"]


def test_module_imports_only_light_dependencies():
    with open(synthetic_actions.__file__, encoding="utf-8") as file:
        tree = ast.parse(file.read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) <= {"numpy", "av", "tqdm"}, imported
