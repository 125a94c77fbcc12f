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
"""Command line: write a split file of seeded random zero-shot class splits (50% and 75% of the classes seen).

```bash
python -m modeling_msqnet.zero_shot.generate_splits --label_set hmdb51 --seed 0 --output configuration/zero_shot/hmdb51.json
```
"""

import argparse
import json
import shlex
import sys
from pathlib import Path

from .splits import NUM_SPLITS, generate_split_file, write_json_atomically


def main(argv=None):
    """`python -m modeling_msqnet.zero_shot.generate_splits --label_set hmdb51 --output configuration/zero_shot/hmdb51.json`."""
    parser = argparse.ArgumentParser(description="Generate seeded random zero-shot class splits (50% and 75% seen).")
    parser.add_argument(
        "--label_set",
        required=True,
        help="Label set name or file (configuration/datasets/), 'synthetic_actions' (the generated benchmark), or a "
        "JSON list of class names.",
    )
    parser.add_argument("--dataset", default=None, help="Dataset name written in the file.")
    parser.add_argument("--seed", type=int, default=0, help="Base seed of the splits.")
    parser.add_argument("--num_splits", type=int, default=NUM_SPLITS, help="Splits per setting.")
    parser.add_argument("--output", required=True, help="Split file to write (.json).")
    args = parser.parse_args(argv)
    label_set = args.label_set
    path = Path(label_set)
    if path.is_file():
        content = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(content, list):
            label_set = content
    arguments = sys.argv[1:] if argv is None else list(argv)
    command = "python -m modeling_msqnet.zero_shot.generate_splits " + shlex.join(arguments)
    content = generate_split_file(
        label_set, dataset=args.dataset, seed=args.seed, num_splits=args.num_splits, command=command
    )
    write_json_atomically(content, args.output)
    print(f"Wrote {args.num_splits} splits per setting for {content['num_labels']} classes to {args.output}")


if __name__ == "__main__":
    main()
