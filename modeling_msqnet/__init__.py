"""MSQNet for Hugging Face `transformers`: config, model, video processor and processor.

Attributes are imported lazily so that light modules (the benchmark generator, data converters) do not pay for
importing `torch` and `transformers`.
"""

import importlib


_EXPORTS = {
    "MSQNetConfig": "configuration_msqnet",
    "MSQNetPreTrainedModel": "modeling_msqnet",
    "MSQNetModel": "modeling_msqnet",
    "MSQNetForVideoClassification": "modeling_msqnet",
    "MSQNetVideoProcessor": "video_processing_msqnet",
    "MSQNetProcessor": "processing_msqnet",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
