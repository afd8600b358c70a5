"""Keras losses: the paper's perceptual losses and companion restoration losses.

``perceptual``: feature reconstruction, style reconstruction, total variation and
their weighted sum (Johnson et al. 2016).
"""

from keras_perceptual.losses.base import ImageLoss
from keras_perceptual.losses.perceptual import (
    PRESETS,
    FeatureReconstructionLoss,
    PerceptualLoss,
    StyleReconstructionLoss,
    TotalVariationLoss,
    feature_reconstruction,
    pixel_reconstruction,
    style_reconstruction,
)

__all__ = [
    "PRESETS",
    "FeatureReconstructionLoss",
    "ImageLoss",
    "PerceptualLoss",
    "StyleReconstructionLoss",
    "TotalVariationLoss",
    "feature_reconstruction",
    "pixel_reconstruction",
    "style_reconstruction",
]
