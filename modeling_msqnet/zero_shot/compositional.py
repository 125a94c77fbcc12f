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
"""A zero-shot variant of the generated benchmark whose label names can transfer through text.

The generated benchmark's 12 action names are poor material for zero-shot transfer: each unseen action has to be
inferred from the text of other actions, and in a sentence encoder's space the nearest neighbour of a directional
action is its opposite ("moving left" / "moving right"), which never occurs in the same clip. This variant relabels
the same clips with *compositional* names built from two factors the generator records for every clip:

- the actor's colour (the benchmark's palette: `COMPOSITIONAL_COLOURS`, red, green and blue, when generated with
  `--colours red green blue`; all 8 of `synthetic_actions.COLOURS` otherwise), and
- its direction of motion (4 values, `COMPOSITIONAL_ACTIONS`: "moving left", "moving right", "moving up",
  "moving down"),

as `"<colour> actor <action>"` (e.g. "red actor moving left"): 12 classes with 3 colours. Three colours keep 104 to 132
training clips per class in 2400; with 8 colours (32 classes, about 30 clips each) the small demo model learned nothing
in 8 epochs at a learning rate of 1e-3, not even with the labels of every class. A clip gets one label per directional
action it does (0 to 2: one horizontal, one vertical), all with its colour. The zero-shot splits
(`configuration/zero_shot/synthetic_actions_compositional.json`) hold out classes whose words all occur in seen
classes: every colour and every direction of an unseen class appear in some seen class. A text-derived query map (a
linear map of frozen text embeddings) trained on "red actor moving left" and "blue actor moving right" has then seen
both words of the unseen "red actor moving right", and can compose its query. The seen classes must also teach every
contrast that tells an unseen class from a seen one: when "red actor moving right" is seen and "red actor moving left"
is not, some colour has both "moving left" and "moving right" seen. Without such a pair nothing in training asks the
model to tell left from right, and the seen class is confused with its unseen neighbour.

Clips are dropped (and counted) when the name would not describe them: clips with no directional action (no label),
and clips that also do "changing colour" (their colour is not one colour). Test clips keep their unseen actor kinds.

The clips' colours are not in the benchmark's manifests; they are recomputed from its `info.json` (seed and clip
counts) with `synthetic_actions.sample_split_specs`, and checked against the manifests' actions and actors.

```bash
msqnet-generate-benchmark --output_dir zs_rgb --num_train 2400 --num_test 800 --size 32 --num_frames 8 --seed 0 \
    --colours red green blue
python -m modeling_msqnet.zero_shot.compositional relabel --benchmark_dir zs_rgb --output_dir zs_rgb/compositional
python -m modeling_msqnet.zero_shot.compositional splits --seed 0 \
    --output configuration/zero_shot/synthetic_actions_compositional.json
```
"""

import argparse
import json
import os
import shlex
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from transformers.utils import logging

from ..data.synthetic_actions import SPLITS, check_colours, sample_split_specs
from ..file_utils import atomic_output
from .splits import NUM_SPLITS, SETTING_SEED_OFFSETS, SETTINGS, num_seen_classes, write_json_atomically


logger = logging.get_logger(__name__)

COMPOSITIONAL_DATASET = "synthetic_actions_compositional"
COMPOSITIONAL_ACTIONS = ("moving left", "moving right", "moving up", "moving down")
# The palette of the shipped split file (`msqnet-generate-benchmark --colours red green blue`).
COMPOSITIONAL_COLOURS = ("red", "green", "blue")
# A clip whose actor changes colour has no single colour to name.
EXCLUDED_ACTIONS = ("changing colour",)
LABEL_TEMPLATE = "{colour} actor {action}"
# Rejection sampling gives up after this many draws of one split (a valid one is found in a few draws).
MAX_SPLIT_DRAWS = 1000


def compositional_label_names(colours=COMPOSITIONAL_COLOURS) -> list[str]:
    """The class names of a palette, colour-major (`"red actor moving left"`, `"red actor moving right"`, ...)."""
    return [
        LABEL_TEMPLATE.format(colour=colour, action=action)
        for colour in check_colours(colours)
        for action in COMPOSITIONAL_ACTIONS
    ]


def label_words(name: str) -> set[str]:
    """The words of a class name."""
    return set(name.split())


def compositional_labels(colour: str, actions) -> list[str]:
    """The compositional labels of a clip of `colour` doing `actions` (empty when none of them is directional)."""
    return [
        LABEL_TEMPLATE.format(colour=colour, action=action) for action in COMPOSITIONAL_ACTIONS if action in actions
    ]


def relabel_benchmark(benchmark_dir, output_dir) -> dict:
    """
    Writes the compositional variant of a generated benchmark into `output_dir`: `labels.json` (the names of the
    benchmark's palette, see `compositional_label_names`),
    `train.jsonl` and `test.jsonl` (video paths relative to `output_dir`, pointing at the benchmark's clips) and
    `info.json` (the counts, also returned).

    Args:
        benchmark_dir (`str` or `os.PathLike`):
            A folder written by `msqnet-generate-benchmark` (`info.json`, `train.jsonl`, `test.jsonl`, `videos/`).
        output_dir (`str` or `os.PathLike`):
            Where to write the variant (created if needed).

    Raises:
        `ValueError`: a missing file, or a manifest that does not match the clips its `info.json` describes.
    """
    benchmark_dir, output_dir = Path(benchmark_dir), Path(output_dir)
    info_file = benchmark_dir / "info.json"
    if not info_file.is_file():
        raise ValueError(
            f"{info_file} is missing: `benchmark_dir` must be a folder written by msqnet-generate-benchmark."
        )
    info = json.loads(info_file.read_text(encoding="utf-8"))
    output_dir.mkdir(parents=True, exist_ok=True)
    colours = check_colours(info.get("colours"))
    label_names = compositional_label_names(colours)
    if colours != COMPOSITIONAL_COLOURS:
        logger.warning(
            f"{info_file}: the palette {list(colours)} is not the shipped split file's {list(COMPOSITIONAL_COLOURS)}; "
            "write a split file for it with `python -m modeling_msqnet.zero_shot.compositional splits --colours ...`."
        )
    counts = {}
    for split in SPLITS:
        manifest = benchmark_dir / f"{split}.jsonl"
        if not manifest.is_file():
            raise ValueError(f"{manifest} is missing.")
        records = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
        specs = sample_split_specs(split, info["splits"][split]["num_clips"], info["seed"], colours)
        if len(specs) != len(records):
            raise ValueError(f"{manifest} has {len(records)} clips, {info_file} describes {len(specs)}.")
        kept, dropped, label_counts = [], Counter(), Counter()
        for line, (record, spec) in enumerate(zip(records, specs), start=1):
            if list(record["labels"]) != list(spec.actions) or record.get("actor") != spec.actor:
                raise ValueError(
                    f"{manifest}:{line}: labels {record['labels']} / actor {record.get('actor')!r} differ from the "
                    f"clip the seed {info['seed']} draws ({list(spec.actions)} / {spec.actor!r})."
                )
            if any(action in spec.actions for action in EXCLUDED_ACTIONS):
                dropped["changing colour"] += 1
                continue
            labels = compositional_labels(spec.colour, spec.actions)
            if not labels:
                dropped["no directional action"] += 1
                continue
            video = os.path.relpath((benchmark_dir / record["video"]).resolve(), output_dir.resolve())
            kept.append({"video": video, "labels": labels, "actor": spec.actor, "colour": spec.colour})
            label_counts.update(labels)
        with atomic_output(output_dir / f"{split}.jsonl", ".jsonl") as temporary:
            temporary.write_text("".join(json.dumps(record) + "\n" for record in kept), encoding="utf-8")
        counts[split] = {
            "num_clips": len(kept),
            "dropped": dict(dropped),
            "label_counts": {name: label_counts[name] for name in label_names},
        }
        logger.info("%s: kept %d of %d clips (dropped: %s).", split, len(kept), len(records), dict(dropped))
    write_json_atomically(label_names, output_dir / "labels.json")
    summary = {
        "dataset": COMPOSITIONAL_DATASET,
        "benchmark_dir": str(benchmark_dir),
        "label_template": LABEL_TEMPLATE,
        "colours": list(colours),
        "actions": list(COMPOSITIONAL_ACTIONS),
        "excluded_actions": list(EXCLUDED_ACTIONS),
        "splits": counts,
    }
    write_json_atomically(summary, output_dir / "info.json")
    return summary


def words_covered(seen, unseen) -> bool:
    """Whether every word of every unseen class occurs in some seen class."""
    seen_words = set().union(*(label_words(name) for name in seen))
    return all(label_words(name) <= seen_words for name in unseen)


def word_swap(name, other_name):
    """The two words that tell two class names apart when they differ in one word each (else `None`)."""
    words, other_words = label_words(name), label_words(other_name)
    if len(words - other_words) == 1 and len(other_words - words) == 1:
        return frozenset(words ^ other_words)
    return None


def contrasts_taught(seen, unseen) -> bool:
    """
    Whether the seen classes teach every contrast that tells an unseen class from a seen one: for every unseen class
    one word away from a seen class ("red actor moving left" and "red actor moving right"), some pair of seen classes
    differs in the same two words ("green actor moving left" and "green actor moving right").
    """
    taught = {word_swap(name, other) for name in seen for other in seen} - {None}
    needed = {word_swap(name, other) for name in unseen for other in seen} - {None}
    return needed <= taught


def compositional_split(label_names, fraction: float, seed: int) -> dict:
    """
    One seeded split of the compositional classes whose unseen words all occur in seen classes (`words_covered`) and
    whose contrasts with the seen classes the seen classes teach (`contrasts_taught`): seen classes are drawn
    uniformly with `numpy.random.default_rng(seed)`, redrawn until both hold (`"draws"` counts).
    """
    label_names = list(label_names)
    num_seen = num_seen_classes(len(label_names), fraction)
    rng = np.random.default_rng(seed)
    for draw in range(1, MAX_SPLIT_DRAWS + 1):
        chosen = set(rng.choice(len(label_names), size=num_seen, replace=False).tolist())
        seen = [name for index, name in enumerate(label_names) if index in chosen]
        unseen = [name for index, name in enumerate(label_names) if index not in chosen]
        if words_covered(seen, unseen) and contrasts_taught(seen, unseen):
            return {"seed": int(seed), "draws": draw, "seen": seen, "unseen": unseen}
    raise ValueError(
        f"No split with {num_seen} seen classes covers the unseen words and teaches their contrasts in "
        f"{MAX_SPLIT_DRAWS} draws."
    )


def generate_compositional_split_file(
    *, seed: int = 0, num_splits: int = NUM_SPLITS, colours=COMPOSITIONAL_COLOURS, command=None
) -> dict:
    """
    The content of a split file of the compositional labels of `colours` (by default that of
    `configuration/zero_shot/synthetic_actions_compositional.json`); see `compositional_split`.
    """
    if num_splits < 1:
        raise ValueError(f"`num_splits` must be >= 1, got {num_splits}.")
    label_names = compositional_label_names(colours)
    splits = {}
    for setting, fraction in SETTINGS.items():
        splits[setting], seen_before = [], set()
        offset = seed + SETTING_SEED_OFFSETS[setting]
        # Split seeds go up from the setting's offset; a seed whose split repeats an earlier one is skipped.
        split_seed = offset
        while len(splits[setting]) < num_splits:
            split = compositional_split(label_names, fraction, split_seed)
            split_seed += 1
            if tuple(split["seen"]) not in seen_before:
                seen_before.add(tuple(split["seen"]))
                splits[setting].append(split)
    return {
        "dataset": COMPOSITIONAL_DATASET,
        "label_set": None,
        "num_labels": len(label_names),
        "colours": list(check_colours(colours)),
        "labels": label_names,
        "source": "seeded random class splits of the compositional labels, redrawn until every word of an unseen "
        "class occurs in a seen class and every contrast between an unseen and a seen class (one word apart) is "
        "taught by two seen classes (numpy.random.default_rng(seed + setting offset + split index))",
        "seed": int(seed),
        "setting_seed_offsets": dict(SETTING_SEED_OFFSETS),
        "command": command,
        "splits": splits,
    }


def main(argv=None):
    """`python -m modeling_msqnet.zero_shot.compositional {relabel,splits} ...`; see `--help`."""
    parser = argparse.ArgumentParser(
        description="The compositional zero-shot variant of the generated benchmark ('<colour> actor moving <dir>')."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    relabel = commands.add_parser("relabel", help="Write labels.json and manifests with the compositional labels.")
    relabel.add_argument("--benchmark_dir", required=True, help="A folder written by msqnet-generate-benchmark.")
    relabel.add_argument("--output_dir", required=True, help="Where labels.json, train/test.jsonl go.")
    splits = commands.add_parser("splits", help="Write the split file of the compositional labels.")
    splits.add_argument("--seed", type=int, default=0, help="Base seed of the splits.")
    splits.add_argument("--num_splits", type=int, default=NUM_SPLITS, help="Splits per setting.")
    splits.add_argument(
        "--colours", nargs="+", default=list(COMPOSITIONAL_COLOURS), help="The benchmark's palette (--colours)."
    )
    splits.add_argument("--output", required=True, help="Split file to write (.json).")
    args = parser.parse_args(argv)
    if args.command == "relabel":
        summary = relabel_benchmark(args.benchmark_dir, args.output_dir)
        for split in SPLITS:
            counts = summary["splits"][split]
            print(
                f"{split}: {counts['num_clips']} clips (dropped {counts['dropped']}); clips per class "
                f"{min(counts['label_counts'].values())} to {max(counts['label_counts'].values())}"
            )
        print(f"Wrote {args.output_dir}/labels.json, train.jsonl, test.jsonl, info.json")
    else:
        arguments = sys.argv[1:] if argv is None else list(argv)
        command = "python -m modeling_msqnet.zero_shot.compositional " + shlex.join(arguments)
        content = generate_compositional_split_file(
            seed=args.seed, num_splits=args.num_splits, colours=args.colours, command=command
        )
        write_json_atomically(content, args.output)
        print(f"Wrote {args.num_splits} splits per setting for {content['num_labels']} classes to {args.output}")


if __name__ == "__main__":
    main()
