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
"""What MSQNet looks at: per-label attention maps (paper, Fig. 3) and embedding maps (Fig. 4)."""

from .attention_maps import (
    METHODS,
    AttentionRecord,
    VideoExplanation,
    VideoTokenLayout,
    backbone_relevance,
    explain_pixel_values,
    explain_video,
    pooling_matrix,
    record_attentions,
    roll_out,
    token_relevance,
)
from .figures import plot_attention_grid, plot_embedding_maps, write_attention_animation, write_explanation


__all__ = [
    "METHODS",
    "AttentionRecord",
    "VideoExplanation",
    "VideoTokenLayout",
    "backbone_relevance",
    "explain_pixel_values",
    "explain_video",
    "pooling_matrix",
    "record_attentions",
    "roll_out",
    "plot_attention_grid",
    "plot_embedding_maps",
    "token_relevance",
    "write_attention_animation",
    "write_explanation",
]
