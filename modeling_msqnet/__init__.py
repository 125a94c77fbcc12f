"""MSQNet for Hugging Face `transformers`: config, model, video processor and processor.

Importing the package registers MSQNet with the `transformers` Auto classes, so `AutoConfig`, `AutoModel`,
`AutoModelForVideoClassification`, `AutoVideoProcessor` and `AutoProcessor` load saved MSQNet folders with the
installed code (without `trust_remote_code`), and the `"zero-shot-video-classification"` pipeline. Folders saved by
this package also carry the code for remote loading.
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForVideoClassification,
    AutoProcessor,
    AutoVideoProcessor,
)
from transformers.pipelines import PIPELINE_REGISTRY

from .hub_code.configuration_msqnet import MSQNetConfig
from .hub_code.modeling_msqnet import (
    ZERO_SHOT_TASK,
    MSQNetForVideoClassification,
    MSQNetModel,
    MSQNetPreTrainedModel,
)
from .hub_code.pipeline_msqnet import MSQNetZeroShotVideoClassificationPipeline
from .hub_code.processing_msqnet import MSQNetProcessor
from .hub_code.video_processing_msqnet import MSQNetVideoProcessor


AutoConfig.register(MSQNetConfig.model_type, MSQNetConfig, exist_ok=True)
AutoModel.register(MSQNetConfig, MSQNetModel, exist_ok=True)
AutoModelForVideoClassification.register(MSQNetConfig, MSQNetForVideoClassification, exist_ok=True)
AutoVideoProcessor.register(MSQNetConfig, MSQNetVideoProcessor, exist_ok=True)
AutoProcessor.register(MSQNetConfig, MSQNetProcessor, exist_ok=True)
if ZERO_SHOT_TASK not in PIPELINE_REGISTRY.get_supported_tasks():
    PIPELINE_REGISTRY.register_pipeline(
        ZERO_SHOT_TASK,
        pipeline_class=MSQNetZeroShotVideoClassificationPipeline,
        pt_model=AutoModelForVideoClassification,
    )

__all__ = [
    "MSQNetConfig",
    "MSQNetPreTrainedModel",
    "MSQNetModel",
    "MSQNetForVideoClassification",
    "MSQNetVideoProcessor",
    "MSQNetProcessor",
    "MSQNetZeroShotVideoClassificationPipeline",
]
