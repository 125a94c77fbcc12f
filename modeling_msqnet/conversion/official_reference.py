"""An independent implementation of the published MSQNet forward pass, written from its description in the README
("What the published model computes").

It uses the official parameter layout (`backbone`, `linear1`, `image_model`, `linear2`, `query_embed`,
`transformer`, `group_linear`) and PyTorch's own `nn.Transformer`, and shares no code with the rest of
`modeling_msqnet` (it imports only `torch` and `transformers`). The parity tests convert its `state_dict` with our
converter and compare logits; the speed benchmarks time it as the baseline.
"""

import math

import torch
from torch import nn
from transformers import CLIPVisionModel, TimesformerModel


class OfficialPositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout=0.1, max_len=2000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0), persistent=False)

    def forward(self, x):
        return self.dropout(x + self.pe[:, : x.size(1)])


class OfficialGroupWiseLinear(nn.Module):
    def __init__(self, num_class, hidden_dim):
        super().__init__()
        self.W = nn.Parameter(torch.empty(1, num_class, hidden_dim))
        self.b = nn.Parameter(torch.empty(1, num_class))
        stdv = 1.0 / math.sqrt(hidden_dim)
        nn.init.uniform_(self.W, -stdv, stdv)
        nn.init.uniform_(self.b, -stdv, stdv)

    def forward(self, x):
        return (self.W * x).sum(-1) + self.b


class OfficialMSQNet(nn.Module):
    """The published forward (README, steps 1-7) with a TimeSformer backbone and the official parameter names."""

    def __init__(
        self,
        video_config,
        vision_config,
        num_labels,
        d_model=512,
        nhead=8,
        num_encoder_layers=6,
        num_decoder_layers=6,
        dim_feedforward=2048,
        dropout=0.1,
    ):
        super().__init__()
        self.backbone = TimesformerModel(video_config)
        width = video_config.hidden_size
        self.linear1 = nn.Linear(width, d_model, bias=False)
        self.pos_encod = OfficialPositionalEncoding(d_model, dropout=dropout)
        self.image_model = CLIPVisionModel(vision_config)
        self.image_model.requires_grad_(False)
        # The official code sizes this layer with the video encoder's width (equal to CLIP's in the paper).
        self.linear2 = nn.Linear(d_model + width, d_model, bias=False)
        self.query_embed = nn.Parameter(torch.randn(num_labels, d_model))
        self.transformer = nn.Transformer(
            d_model=d_model,
            nhead=nhead,
            num_encoder_layers=num_encoder_layers,
            num_decoder_layers=num_decoder_layers,
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            batch_first=True,
        )
        self.group_linear = OfficialGroupWiseLinear(num_labels, d_model)

    @classmethod
    def sized_like(cls, config) -> "OfficialMSQNet":
        """The model with the sizes of an MSQNet config (read by attribute name: nothing of ours is imported)."""
        layers = {"num_encoder_layers": config.num_encoder_layers, "num_decoder_layers": config.num_decoder_layers}
        widths = {"d_model": config.hidden_size, "dim_feedforward": config.intermediate_size}
        return cls(
            config.video_config,
            config.vision_config,
            config.num_labels,
            nhead=config.num_attention_heads,
            **widths,
            **layers,
            dropout=config.dropout,
        )

    def forward(self, images):
        b, t, c, h, w = images.shape
        x = self.backbone(images).last_hidden_state
        x = nn.functional.adaptive_avg_pool1d(x.transpose(1, 2), t).transpose(1, 2)
        x = self.pos_encod(self.linear1(x))
        with torch.no_grad():
            video_features = self.image_model(images.reshape(b * t, c, h, w)).pooler_output
        video_features = video_features.reshape(b, t, -1).mean(dim=1, keepdim=True)
        query = self.query_embed.unsqueeze(0).repeat(b, 1, 1)
        query = torch.cat([query, video_features.repeat(1, query.shape[1], 1)], dim=2)
        query = self.linear2(query)
        hidden = self.transformer(x, query)
        return self.group_linear(hidden)
