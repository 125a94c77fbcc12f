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
"""Run the paper's zero-shot protocol (section 4.2, Table 3) over N class splits and write a Table-3-shaped report.

```bash
msqnet-generate-benchmark --output_dir zs_bench --num_train 1200 --num_test 300 --size 32 --num_frames 8
python examples/zero_shot_protocol.py --labels zs_bench/labels.json --train_manifest zs_bench/train.jsonl \
    --eval_manifest zs_bench/test.jsonl --splits synthetic_actions --num_splits 10 --output_dir runs/zero-shot
```

See `python examples/zero_shot_protocol.py --help`; `runs/zero-shot/report.md` holds the tables.
"""

from modeling_msqnet.command_line import setup_logging
from modeling_msqnet.zero_shot.driver import main


if __name__ == "__main__":
    setup_logging("WARNING")
    print(main().read_text(encoding="utf-8"))
