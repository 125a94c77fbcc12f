"""Run in a fresh interpreter by `test_zero_shot_pipeline.py`: runs the zero-shot pipeline of a saved MSQNet folder with
`trust_remote_code=True` while `modeling_msqnet` is NOT importable, and writes what it returned to a JSON file.

    python zero_shot_pipeline_check.py MODEL_DIR VIDEO_FILE OUTPUT.json LABEL [LABEL ...]
"""

import sys


sys.modules["modeling_msqnet"] = None  # `import modeling_msqnet` now raises ImportError, as on a machine without it

import json  # noqa: E402

from transformers import pipeline  # noqa: E402


def main(model_dir, video_file, output_file, *candidate_labels):
    try:
        import modeling_msqnet  # noqa: F401
    except ImportError:
        package_importable = False
    else:
        package_importable = True
    classifier = pipeline("zero-shot-video-classification", model=model_dir, trust_remote_code=True)
    predictions = classifier(video_file, candidate_labels=list(candidate_labels), hypothesis_template="{}")
    batched = classifier([video_file, video_file], candidate_labels=list(candidate_labels), batch_size=2)
    result = {
        "package_importable": package_importable,
        "pipeline_class": [type(classifier).__name__, type(classifier).__module__],
        "model_class": [type(classifier.model).__name__, type(classifier.model).__module__],
        "predictions": predictions,
        "batched": batched,
        "id2label_after": {str(k): v for k, v in classifier.model.config.id2label.items()},
    }
    with open(output_file, "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    main(*sys.argv[1:])
