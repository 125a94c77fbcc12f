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
"""Turn an archive's review decisions (OUT/reviews.jsonl) into a training manifest for examples/train.py.

```bash
python examples/export_reviews.py --annotations OUT --output corrected.jsonl [--keep_unreviewed] [--clip_seconds 4]
python examples/train.py --train_manifest corrected.jsonl ...
```
"""

import sys

from modeling_msqnet.archive.export import main
from modeling_msqnet.command_line import setup_logging


if __name__ == "__main__":
    setup_logging()
    sys.exit(main())
