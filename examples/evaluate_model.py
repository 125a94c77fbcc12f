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
"""Evaluate a saved MSQNet model on a manifest: the paper's metrics, per-class AP and the unreadable videos.

```bash
python examples/evaluate_model.py --model runs/ak --manifest data/ak/val.jsonl --output runs/ak/val_report.json \
    --per_class_table runs/ak/val_per_class.md
accelerate launch --num_processes 4 examples/evaluate_model.py ...   # same figures, split over processes
```
"""

import sys

from modeling_msqnet.data import ManifestError
from modeling_msqnet.training.evaluation import format_summary, parse_args, run_evaluation


def main(argv=None):
    args = parse_args(argv)
    try:
        report = run_evaluation(args)
    except (ManifestError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    from accelerate import PartialState

    if PartialState().is_main_process:
        print(f"{args.model} on {args.manifest}: {format_summary(report, report['problem_type'])}")
        for entry in report["skipped"]["videos"]:
            print(f"  skipped {entry['video']} (line {entry['line']}): {entry['error']}")
        print(f"Wrote {args.output}" + (f" and {args.per_class_table}" if args.per_class_table else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
