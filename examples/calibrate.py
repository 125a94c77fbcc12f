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
"""Choose per-label score thresholds on labelled clips, for the timeline, examples/annotate.py and the app.

```bash
python examples/calibrate.py --model runs/ak --manifest data/ak/val.jsonl --output runs/ak/thresholds.json
python examples/calibrate.py ... --target_precision 0.9        # the lowest threshold with precision >= 0.9
accelerate launch --num_processes 4 examples/calibrate.py ...  # the clips split over processes
```
Saved as `thresholds.json` in the model folder, the file is the default of the commands that take `--thresholds`.
"""

import sys

from modeling_msqnet.archive.calibration import main
from modeling_msqnet.command_line import setup_logging


if __name__ == "__main__":
    setup_logging()
    sys.exit(main())
