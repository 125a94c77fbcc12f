"""Run in a fresh interpreter by `test_hub_round_trip.py`: loads a saved MSQNet folder with `trust_remote_code=True`
while `modeling_msqnet` is NOT importable, and writes what it computed to a JSON file.

    python remote_code_check.py MODEL_DIR VIDEO_FILE INPUTS.safetensors OUTPUT.json
"""

import sys


sys.modules["modeling_msqnet"] = None  # `import modeling_msqnet` now raises ImportError, as on a machine without it

import json  # noqa: E402

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import (  # noqa: E402
    AutoConfig,
    AutoModel,
    AutoModelForVideoClassification,
    AutoProcessor,
    AutoVideoProcessor,
    pipeline,
)


def module_of(obj):
    return type(obj).__module__


def main(model_dir, video_file, inputs_file, output_file):
    try:
        import modeling_msqnet  # noqa: F401
    except ImportError:
        package_importable = False
    else:
        package_importable = True

    config = AutoConfig.from_pretrained(model_dir, trust_remote_code=True)
    model = AutoModelForVideoClassification.from_pretrained(model_dir, trust_remote_code=True).eval()
    base_model = AutoModel.from_pretrained(model_dir, trust_remote_code=True).eval()
    video_processor = AutoVideoProcessor.from_pretrained(model_dir, trust_remote_code=True)
    processor = AutoProcessor.from_pretrained(model_dir, trust_remote_code=True)

    pixel_values = load_file(inputs_file)["pixel_values"]
    with torch.no_grad():
        logits = model(pixel_values).logits
        decoder_states = base_model(pixel_values).last_hidden_state
    processed = processor(videos=video_file, text=["walking", "jumping"], return_tensors="pt")

    classifier = pipeline("video-classification", model=model_dir, trust_remote_code=True)
    predictions = classifier(video_file, top_k=config.num_labels)

    result = {
        "package_importable": package_importable,
        "classes": {
            "config": [type(config).__name__, module_of(config)],
            "model": [type(model).__name__, module_of(model)],
            "base_model": [type(base_model).__name__, module_of(base_model)],
            "video_processor": [type(video_processor).__name__, module_of(video_processor)],
            "processor": [type(processor).__name__, module_of(processor)],
            "pipeline_model": [type(classifier.model).__name__, module_of(classifier.model)],
        },
        "image_model_frozen": not any(p.requires_grad for p in model.msqnet.image_model.parameters()),
        "logits": logits.tolist(),
        "decoder_states_shape": list(decoder_states.shape),
        "processor_keys": sorted(processed.keys()),
        "processor_pixel_values": processed["pixel_values"].tolist(),
        "processor_input_ids": processed["input_ids"].tolist(),
        "predictions": predictions,
    }
    with open(output_file, "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main(*sys.argv[1:])
