"""PyTorch twins of the library's networks and loss, for speed comparisons only.

Same architecture as ``style_transfer_net()`` / ``super_resolution_net(4)`` (reflection
padding, bias-free convolutions before normalizations, instance / batch norm, residual
blocks, transposed-convolution up-sampling, scaled tanh) and the loss of
pytorch/examples ``fast_neural_style`` (torchvision VGG16 slices, Gram / (C H W),
``mse_loss``). Values are irrelevant here; FLOPs and memory traffic match ours.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn


class ConvNorm(nn.Sequential):
    def __init__(self, cin, cout, k, stride=1, norm="instance", relu=True):
        layers = [nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k, stride, bias=norm == "none")]
        if norm == "instance":
            layers.append(nn.InstanceNorm2d(cout, affine=True))
        elif norm == "batch":
            layers.append(nn.BatchNorm2d(cout))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class Residual(nn.Module):
    def __init__(self, c, norm):
        super().__init__()
        self.body = nn.Sequential(ConvNorm(c, c, 3, norm=norm), ConvNorm(c, c, 3, norm=norm, relu=False))

    def forward(self, x):
        return x + self.body(x)


class Up(nn.Sequential):
    def __init__(self, cin, cout, norm):
        norm_layer = nn.InstanceNorm2d(cout, affine=True) if norm == "instance" else nn.BatchNorm2d(cout)
        super().__init__(
            nn.ConvTranspose2d(cin, cout, 3, 2, padding=1, output_padding=1, bias=False),
            norm_layer, nn.ReLU(inplace=True))


class StyleNet(nn.Module):
    def __init__(self, f=32, blocks=5):
        super().__init__()
        self.net = nn.Sequential(
            ConvNorm(3, f, 9), ConvNorm(f, 2 * f, 3, 2), ConvNorm(2 * f, 4 * f, 3, 2),
            *[Residual(4 * f, "instance") for _ in range(blocks)],
            Up(4 * f, 2 * f, "instance"), Up(2 * f, f, "instance"),
            ConvNorm(f, 3, 9, norm="none", relu=False))

    def forward(self, x):
        return (torch.tanh(self.net(x)) + 1) / 2


class SRNet(nn.Module):
    def __init__(self, scale=4, f=64, blocks=4):
        super().__init__()
        ups = [Up(f, f, "batch") for _ in range({2: 1, 4: 2, 8: 3}[scale])]
        self.net = nn.Sequential(
            ConvNorm(3, f, 9, norm="batch"), *[Residual(f, "batch") for _ in range(blocks)],
            *ups, ConvNorm(f, 3, 9, norm="none", relu=False))

    def forward(self, x):
        return (torch.tanh(self.net(x)) + 1) / 2


class ExamplesLoss(nn.Module):
    """pytorch/examples fast_neural_style's loss: four VGG16 slices, always all computed."""

    def __init__(self, style=None, content_weight=1e5, style_weight=1e10):
        super().__init__()
        features = torchvision.models.vgg16(weights=None).features.eval()
        for p in features.parameters():
            p.requires_grad_(False)
        self.slices = nn.ModuleList([features[0:4], features[4:9], features[9:16], features[16:23]])
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, -1, 1, 1))
        self.cw, self.sw = content_weight, style_weight
        self.gram_style = None
        if style is not None:
            with torch.no_grad():
                self.gram_style = [self.gram(f) for f in self.vgg(style)]

    def vgg(self, x):
        x = (x - self.mean) / self.std
        out = []
        for part in self.slices:
            x = part(x)
            out.append(x)
        return out

    @staticmethod
    def gram(y):
        b, c, h, w = y.size()
        f = y.view(b, c, h * w)
        return f.bmm(f.transpose(1, 2)) / (c * h * w)

    def forward(self, y_pred, y_true):
        fy, fx = self.vgg(y_pred), self.vgg(y_true)
        value = self.cw * nn.functional.mse_loss(fy[1], fx[1])
        if self.gram_style is not None:
            n = y_pred.shape[0]
            for f, g in zip(fy, self.gram_style, strict=True):
                value = value + self.sw * nn.functional.mse_loss(self.gram(f), g.expand(n, -1, -1))
        return value


class ExamplesNet(nn.Module):
    """pytorch/examples fast_neural_style's ``TransformerNet`` as shipped: reflection-padded
    convolutions with biases, affine instance norm, five residual blocks, nearest-neighbour
    x2 up-sampling followed by a 3x3 convolution (instead of a transposed convolution), no
    output activation. Written from the architecture; used for speed only."""

    def __init__(self):
        super().__init__()

        def conv(cin, cout, k, stride=1, norm=True, relu=True):
            layers = [nn.ReflectionPad2d(k // 2), nn.Conv2d(cin, cout, k, stride)]
            if norm:
                layers.append(nn.InstanceNorm2d(cout, affine=True))
            if relu:
                layers.append(nn.ReLU())
            return nn.Sequential(*layers)

        class Block(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.body = nn.Sequential(conv(c, c, 3), conv(c, c, 3, relu=False))

            def forward(self, x):
                return x + self.body(x)

        class Upsample(nn.Module):
            def __init__(self, cin, cout):
                super().__init__()
                self.conv = conv(cin, cout, 3)

            def forward(self, x):
                return self.conv(nn.functional.interpolate(x, scale_factor=2, mode="nearest"))

        self.net = nn.Sequential(
            conv(3, 32, 9), conv(32, 64, 3, 2), conv(64, 128, 3, 2),
            *[Block(128) for _ in range(5)],
            Upsample(128, 64), Upsample(64, 32), conv(32, 3, 9, norm=False, relu=False))

    def forward(self, x):
        return self.net(x)
