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
"""Train or fine-tune MSQNet on video manifests with Accelerate (no Trainer).

```bash
# One CPU or GPU
accelerate launch examples/train.py --model configuration/models/msqnet-paper.json --labels animal_kingdom \
    --train_manifest data/ak/train.jsonl --eval_manifest data/ak/val.jsonl --output_dir runs/ak
# Several GPUs (DDP) or FSDP
accelerate launch --config_file configuration/accelerate/multi_gpu.yaml examples/train.py ... \
    --checkpointing_steps 1000
# Resume exactly where a checkpoint left off
accelerate launch examples/train.py ... --resume_from_checkpoint runs/ak/step_1000
# Zero-shot protocol: train on the seen classes of split 0 (75% seen), then score the unseen ones
accelerate launch examples/train.py ... --zero_shot_splits configuration/zero_shot/hmdb51.json \
    --seen_setting 75_seen --split_index 0 --text_model sentence-transformers/all-MiniLM-L6-v2
```

See `python examples/train.py --help` for every flag; the defaults are the paper's recipe.
"""

import logging
import sys

from modeling_msqnet.data import ManifestError
from modeling_msqnet.training.training import parse_args as parse_training_args
from modeling_msqnet.training.training import train
from modeling_msqnet.zero_shot import SplitError
from modeling_msqnet.zero_shot.protocol import (
    finish_zero_shot_run,
    format_zero_shot_summary,
    parse_zero_shot_args,
    prepare_seen_class_training,
)


def parse_args(argv=None):
    zero_shot_args, argv = parse_zero_shot_args(argv)
    return parse_training_args(argv), zero_shot_args


def main(argv=None):
    args, zero_shot_args = parse_args(argv)
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%m/%d/%Y %H:%M:%S", level=logging.INFO
    )
    try:
        split = prepare_seen_class_training(args, zero_shot_args) if zero_shot_args.zero_shot_splits else None
        report = train(args)
        zero_shot_report = finish_zero_shot_run(args.output_dir, split) if split else None
    except (ManifestError, FileNotFoundError, SplitError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if report:
        from accelerate import PartialState

        if PartialState().is_main_process:
            from modeling_msqnet.training.evaluation import format_summary

            print(f"Final evaluation: {format_summary(report, report['problem_type'])}")
            if zero_shot_report:
                print(format_zero_shot_summary(zero_shot_report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
