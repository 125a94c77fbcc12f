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
"""See what MSQNet sees: per-label attention maps of a video (paper, Fig. 3) or embedding maps of a dataset (Fig. 4).

```bash
python examples/explain.py --model demo_output/msqnet-demo --video demo_output/benchmark/videos/test_00000.mp4 \
    --output_dir explain_out --top_k 3 --method gradient
python examples/explain.py tsne --model demo_output/msqnet-demo --manifest demo_output/benchmark/test.jsonl \
    --output_dir explain_out
```
"""

import sys

from modeling_msqnet.data import ManifestError
from modeling_msqnet.explain.cli import main as explain_main


def main(argv=None):
    try:
        result = explain_main(argv)
    except (ManifestError, FileNotFoundError, ValueError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if "summary" in result:
        scores = ", ".join(f"{name} {score:.2f}" for name, score in result["summary"]["probabilities"].items())
        print(f"explained ({result['summary']['method']}): {scores}")
        for kind in ("arrays", "grid"):
            print(f"wrote {result['written'][kind]}")
    else:
        for stage in ("before", "after"):
            score = result[stage]
            print(
                f"{stage} the decoder: k-NN accuracy {score['knn_accuracy']:.3f}, silhouette {score['silhouette']:.3f}"
            )
        print(f"wrote {result['figure']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
