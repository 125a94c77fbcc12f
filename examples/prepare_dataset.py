#!/usr/bin/env python
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
"""Write a manifest (JSON Lines) from a dataset's official annotation files.

Examples:

```bash
# Animal Kingdom, validation set, frame folders
python examples/prepare_dataset.py --dataset animal_kingdom \
    --annotations Animal_Kingdom/action_recognition/annotation/val.csv \
    --root Animal_Kingdom/action_recognition/dataset/image --output data/animal_kingdom/val.jsonl

# Charades test set, videos
python examples/prepare_dataset.py --dataset charades --annotations Charades/Charades_v1_test.csv \
    --root Charades_v1_480 --output data/charades/test.jsonl

# HMDB51 split 1, training set
python examples/prepare_dataset.py --dataset hmdb51 --annotations testTrainMulti_7030_splits \
    --root hmdb51/videos --split train --split-number 1 --output data/hmdb51/train1.jsonl

# THUMOS14: test segments, and the trimmed (UCF101) training videos
python examples/prepare_dataset.py --dataset thumos14 --annotations TH14_Temporal_Annotations_Test/annotations \
    --root videos/test --output data/thumos14/test.jsonl
python examples/prepare_dataset.py --dataset thumos14_trimmed --annotations UCF101 --output data/thumos14/train.jsonl

# Hockey (test part 6) and Volleyball (official test videos): annotations and media in the same tree
python examples/prepare_dataset.py --dataset hockey --annotations ets_dataset_concordia1_v1 --split test \
    --output data/hockey/test.jsonl
python examples/prepare_dataset.py --dataset volleyball --annotations volleyball --split test \
    --output data/volleyball/test.jsonl
```
"""

import argparse
import sys

from modeling_msqnet.data import CONVERTERS, convert_dataset, write_manifest


# Which command-line options each converter takes (the others are rejected with a clear message).
CONVERTER_OPTIONS = {
    "animal_kingdom": ("media_format", "check_media", "keep_unlabelled"),
    "charades": ("media_format", "check_media", "keep_unlabelled", "classes_file"),
    "hockey": (
        "split",
        "test_part",
        "clip_length",
        "stride",
        "fps",
        "label_num_frames",
        "media_format",
        "check_media",
    ),
    "thumos14": ("split", "fps", "media_format", "check_media"),
    "thumos14_trimmed": (),
    "hmdb51": ("split", "split_number", "media_format", "check_media"),
    "volleyball": ("split", "check_media"),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, choices=sorted(CONVERTERS), help="Which dataset's annotations.")
    parser.add_argument("--annotations", required=True, help="The official annotation file or folder.")
    parser.add_argument(
        "--root", help="Folder of the videos or frame folders (defaults to --annotations for hockey and volleyball)."
    )
    parser.add_argument("--output", required=True, help="The manifest to write (.jsonl).")
    parser.add_argument("--split", help="train / val / test (hockey, thumos14, hmdb51, volleyball).")
    parser.add_argument("--split-number", type=int, help="HMDB51 official split (1, 2 or 3).")
    parser.add_argument("--test-part", type=int, help="Hockey: the part number of the test sequences (default 6).")
    parser.add_argument("--clip-length", type=int, help="Hockey: frames per clip (default 30).")
    parser.add_argument("--stride", type=int, help="Hockey: frames between clips (default 10 train, 45 test).")
    parser.add_argument("--label-num-frames", type=int, help="Hockey: label clips from this many middle frames.")
    parser.add_argument("--fps", type=float, help="Frame rate of frame-folder media (hockey, thumos14).")
    parser.add_argument("--classes-file", help="Charades: Charades_v1_classes.txt, checked against the label set.")
    parser.add_argument("--media-format", help="'auto' (default), 'frames' or a video extension such as '.mp4'.")
    parser.add_argument("--no-check-media", action="store_true", help="Write media paths without checking them.")
    parser.add_argument("--drop-unlabelled", action="store_true", help="Skip videos without any label.")
    parser.add_argument("--relative-paths", action="store_true", help="Write paths relative to the manifest.")
    return parser.parse_args(argv)


def converter_kwargs(args) -> dict:
    given = {
        "split": args.split,
        "split_number": args.split_number,
        "test_part": args.test_part,
        "clip_length": args.clip_length,
        "stride": args.stride,
        "label_num_frames": args.label_num_frames,
        "fps": args.fps,
        "classes_file": args.classes_file,
        "media_format": args.media_format,
        "check_media": False if args.no_check_media else None,
        "keep_unlabelled": False if args.drop_unlabelled else None,
    }
    given = {name: value for name, value in given.items() if value is not None}
    unsupported = sorted(set(given) - set(CONVERTER_OPTIONS[args.dataset]))
    if unsupported:
        options = ", ".join("--" + name.replace("_", "-") for name in unsupported)
        raise SystemExit(f"error: {options} do(es) not apply to --dataset {args.dataset}.")
    return given


def main(argv=None) -> int:
    args = parse_args(argv)
    result = convert_dataset(args.dataset, args.annotations, args.root, **converter_kwargs(args))
    if not result.entries:
        print(result.summary(), file=sys.stderr)
        print(f"error: no entries to write to {args.output}.", file=sys.stderr)
        return 1
    num_written = write_manifest(result.entries, args.output, relative_paths=args.relative_paths)
    print(result.summary())
    print(f"Wrote {num_written} entries to {args.output} ({result.num_skipped} skipped).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
