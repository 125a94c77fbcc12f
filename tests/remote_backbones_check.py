"""Run in a fresh interpreter by `test_backbones.py`: loads saved MSQNet folders (one per video encoder family) with
`trust_remote_code=True` while `modeling_msqnet` is NOT importable, and writes their logits to a JSON file.

    python remote_backbones_check.py INPUTS.safetensors OUTPUT.json MODEL_DIR [MODEL_DIR ...]
"""

import sys


sys.modules["modeling_msqnet"] = None  # `import modeling_msqnet` now raises ImportError, as on a machine without it

import json  # noqa: E402

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoModelForVideoClassification  # noqa: E402


def main(inputs_file, output_file, *model_dirs):
    pixel_values = load_file(inputs_file)["pixel_values"]
    result = {}
    for model_dir in model_dirs:
        model = AutoModelForVideoClassification.from_pretrained(model_dir, trust_remote_code=True).eval()
        with torch.no_grad():
            logits = model(pixel_values).logits
        result[model_dir] = {
            "module": type(model).__module__,
            "video_model": type(model.msqnet.video_model).__name__,
            "logits": logits.tolist(),
        }
    with open(output_file, "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main(*sys.argv[1:])
