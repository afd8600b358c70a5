"""keras-perceptual: perceptual losses for real-time style transfer and super-resolution.

Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
Super-Resolution", ECCV 2016, as Keras 3 losses, models and training recipes.
"""

__version__ = "0.1.0"

from keras_perceptual.backbones import FeatureExtractor, VGGPreprocessing
from keras_perceptual.losses import (
    PRESETS,
    FeatureReconstructionLoss,
    PerceptualLoss,
    StyleReconstructionLoss,
    TotalVariationLoss,
)
from keras_perceptual.ops import gram_matrix, total_variation
from keras_perceptual.weights import WeightsUnavailableError

__all__ = [
    "PRESETS",
    "FeatureExtractor",
    "FeatureReconstructionLoss",
    "PerceptualLoss",
    "StyleReconstructionLoss",
    "TotalVariationLoss",
    "VGGPreprocessing",
    "WeightsUnavailableError",
    "__version__",
    "gram_matrix",
    "total_variation",
]
