"""The seed post's GoogLeNet (an MXNet/Gluon variant of Inception v1) in PyTorch.

The same network as the `seed` preset of src/graph/googlenet.ts, with the same parameter names: a 1-channel 96x96
input, Gluon's pooling (no padding, floor rounding), no activation after block 2's two convolutions, and a 2x2
average pool before the classifier. With `aux=True` it also has the paper's two auxiliary classifiers after
inception 4a and 4d; they only run in training mode, so an eval-mode export never contains them.
"""

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

# (n1_1, n2_1, n2_3, n3_1, n3_5, n4_1) of each inception module: Table 1 of the paper, as the seed passes them.
GOOGLENET_INCEPTIONS = OrderedDict(
    [
        ("3a", (64, 96, 128, 16, 32, 32)),
        ("3b", (128, 128, 192, 32, 96, 64)),
        ("4a", (192, 96, 208, 16, 48, 64)),
        ("4b", (160, 112, 224, 24, 64, 64)),
        ("4c", (128, 128, 256, 24, 64, 64)),
        ("4d", (112, 144, 288, 32, 64, 64)),
        ("4e", (256, 160, 320, 32, 128, 128)),
        ("5a", (256, 160, 320, 32, 128, 128)),
        ("5b", (384, 192, 384, 48, 128, 128)),
    ]
)

AUX_TAPS = ("inception4a", "inception4d")


def inception_channels(stage):
    n1_1, _, n2_3, _, n3_5, n4_1 = GOOGLENET_INCEPTIONS[stage]
    return n1_1 + n2_3 + n3_5 + n4_1


def pooled_size(size, kernel, stride, padding=0):
    """Floor-mode output size, as Gluon and PyTorch compute it by default."""
    return (size + 2 * padding - kernel) // stride + 1


class Inception(nn.Module):
    """Four parallel paths concatenated along channels; every convolution is followed by a ReLU."""

    def __init__(self, in_channels, n1_1, n2_1, n2_3, n3_1, n3_5, n4_1):
        super().__init__()
        self.p1_conv_1 = nn.Conv2d(in_channels, n1_1, kernel_size=1)
        self.p2_conv_1 = nn.Conv2d(in_channels, n2_1, kernel_size=1)
        self.p2_conv_3 = nn.Conv2d(n2_1, n2_3, kernel_size=3, padding=1)
        self.p3_conv_1 = nn.Conv2d(in_channels, n3_1, kernel_size=1)
        self.p3_conv_5 = nn.Conv2d(n3_1, n3_5, kernel_size=5, padding=2)
        self.p4_pool_3 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_conv_1 = nn.Conv2d(in_channels, n4_1, kernel_size=1)

    def forward(self, x):
        p1 = F.relu(self.p1_conv_1(x))
        p2 = F.relu(self.p2_conv_3(F.relu(self.p2_conv_1(x))))
        p3 = F.relu(self.p3_conv_5(F.relu(self.p3_conv_1(x))))
        p4 = F.relu(self.p4_conv_1(self.p4_pool_3(x)))
        return torch.cat((p1, p2, p3, p4), dim=1)


class AuxClassifier(nn.Module):
    """The paper's side head: 5x5/3 average pool, 1x1 conv to 128, FC 1024, dropout 0.7, FC to the classes."""

    def __init__(self, in_channels, in_size, num_classes):
        super().__init__()
        self.pool = nn.AvgPool2d(kernel_size=5, stride=3)
        self.conv = nn.Conv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(128 * pooled_size(in_size, 5, 3) ** 2, 1024)
        self.dropout = nn.Dropout(p=0.7)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = F.relu(self.conv(self.pool(x)))
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(self.dropout(x))


class GoogLeNetSeed(nn.Module):
    """Returns the logits; in training mode with `aux=True`, (logits, [aux 4a logits, aux 4d logits])."""

    def __init__(self, num_classes=10, in_channels=1, input_size=96, aux=False):
        super().__init__()
        size = pooled_size(input_size, 7, 2, padding=3)
        self.b1 = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3),
                relu=nn.ReLU(),
                pool=nn.MaxPool2d(kernel_size=3, stride=2),
            )
        )
        size = pooled_size(size, 3, 2)
        # No activations in block 2: the seed code leaves them out.
        self.b2 = nn.Sequential(
            OrderedDict(
                conv1x1=nn.Conv2d(64, 64, kernel_size=1),
                conv3x3=nn.Conv2d(64, 192, kernel_size=3, padding=1),
                pool=nn.MaxPool2d(kernel_size=3, stride=2),
            )
        )
        size = pooled_size(size, 3, 2)
        self.b3 = self._inception_block(["3a", "3b"], 192, nn.MaxPool2d(kernel_size=3, stride=2))
        size = pooled_size(size, 3, 2)
        aux_size = size
        self.b4 = self._inception_block(["4a", "4b", "4c", "4d", "4e"], 480, nn.MaxPool2d(kernel_size=3, stride=2))
        size = pooled_size(size, 3, 2)
        # Gluon's AvgPool2D(pool_size=2) strides by its pool size. It pads nothing, so count_include_pad changes
        # no value; False keeps torch.onnx from emitting a no-op Pad in front of the AveragePool.
        self.b5 = self._inception_block(["5a", "5b"], 832, nn.AvgPool2d(kernel_size=2, count_include_pad=False))
        size = pooled_size(size, 2, 2)
        self.b6 = nn.Sequential(
            OrderedDict(
                flatten=nn.Flatten(),
                dense=nn.Linear(inception_channels("5b") * size * size, num_classes),
            )
        )
        self.aux = None
        if aux:
            self.aux = nn.ModuleDict(
                {
                    "inception4a": AuxClassifier(inception_channels("4a"), aux_size, num_classes),
                    "inception4d": AuxClassifier(inception_channels("4d"), aux_size, num_classes),
                }
            )
        self._init_weights()

    @staticmethod
    def _inception_block(stages, in_channels, pool):
        layers = OrderedDict()
        for stage in stages:
            layers[f"inception{stage}"] = Inception(in_channels, *GOOGLENET_INCEPTIONS[stage])
            in_channels = inception_channels(stage)
        layers["pool"] = pool
        return nn.Sequential(layers)

    def _init_weights(self):
        # He initialisation: PyTorch's default (variance 1/(3 fan_in)) shrinks the signal ~6x per layer, so
        # after 20-odd layers the biases alone would decide the output.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.uniform_(module.bias, -0.05, 0.05)

    def forward(self, x):
        x = self.b3(self.b2(self.b1(x)))
        aux_logits = []
        for name, layer in self.b4.named_children():
            x = layer(x)
            if self.aux is not None and self.training and name in AUX_TAPS:
                aux_logits.append(self.aux[name](x))
        logits = self.b6(self.b5(x))
        return (logits, aux_logits) if aux_logits else logits
