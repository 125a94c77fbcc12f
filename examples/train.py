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

See `python examples/train.py --help` for every flag; the defaults are the paper's recipe. The same command line runs
from an installed package as `accelerate launch -m modeling_msqnet.zero_shot ...` (`-m modeling_msqnet.training`
without the zero-shot flags).
"""

import sys

from modeling_msqnet.zero_shot.protocol import main


if __name__ == "__main__":
    sys.exit(main())
