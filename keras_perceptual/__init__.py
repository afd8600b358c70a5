"""keras-perceptual: perceptual losses for real-time style transfer and super-resolution.

Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
Super-Resolution", ECCV 2016, as Keras 3 losses, models and training recipes.

The top level re-exports the multi-backend core (losses, loss network, networks,
layers, metrics, inference helpers). TensorFlow-specific modules are imported on
demand: ``keras_perceptual.data`` (tf.data), ``keras_perceptual.training``
(tf.distribute recipes) and ``keras_perceptual.export`` (SavedModel, TFLite).
"""

__version__ = "0.1.0"

from keras_perceptual._console import quiet_startup
from keras_perceptual._onednn import prefer_onednn, wants_onednn

if wants_onednn():  # training commands: oneDNN's CPU kernels on AVX2 too (2-3x faster steps)
    prefer_onednn()
with quiet_startup():  # the command line hides TensorFlow's start-up notices; see _console
    import keras  # noqa: F401 - imports TensorFlow (or the configured backend) here

# ruff: noqa: E402 - the imports below follow that import on purpose

from keras_perceptual.backbones import FeatureExtractor, VGGPreprocessing
from keras_perceptual.gan import PerceptualGAN, patch_discriminator
from keras_perceptual.inference import save_image, stylize, upscale
from keras_perceptual.layers import (
    AdaptiveInstanceNormalization,
    ConditionalInstanceNormalization,
    InstanceNormalization,
    ReflectionPadding2D,
    ResidualBlock,
    UpsamplingBlock,
)
from keras_perceptual.losses import (
    PRESETS,
    AdaINLoss,
    CharbonnierLoss,
    ColorLoss,
    DiscriminatorLoss,
    DISTSLoss,
    EdgeLoss,
    Entropy,
    FeatureReconstructionLoss,
    GeneratorLoss,
    JensenShannonDivergence,
    LPIPSLoss,
    PerceptualLoss,
    StyleReconstructionLoss,
    TemporalConsistency,
    TemporalLoss,
    TotalVariationLoss,
    WassersteinLoss,
    dists,
    gradient_penalty,
    lpips,
)
from keras_perceptual.metrics import DISTS, LPIPS, PSNR, SSIM, temporal_warping_error
from keras_perceptual.models import (
    arbitrary_style_net,
    model_value_range,
    multi_style_transfer_net,
    style_transfer_net,
    super_resolution_net,
)
from keras_perceptual.ops import gram_matrix, total_variation
from keras_perceptual.video import stylize_video
from keras_perceptual.weights import WeightsUnavailableError

__all__ = [
    "DISTS",
    "LPIPS",
    "PRESETS",
    "PSNR",
    "SSIM",
    "AdaINLoss",
    "AdaptiveInstanceNormalization",
    "CharbonnierLoss",
    "ColorLoss",
    "ConditionalInstanceNormalization",
    "DISTSLoss",
    "DiscriminatorLoss",
    "EdgeLoss",
    "Entropy",
    "FeatureExtractor",
    "FeatureReconstructionLoss",
    "GeneratorLoss",
    "InstanceNormalization",
    "JensenShannonDivergence",
    "LPIPSLoss",
    "PerceptualGAN",
    "PerceptualLoss",
    "ReflectionPadding2D",
    "ResidualBlock",
    "StyleReconstructionLoss",
    "TemporalConsistency",
    "TemporalLoss",
    "TotalVariationLoss",
    "UpsamplingBlock",
    "VGGPreprocessing",
    "WassersteinLoss",
    "WeightsUnavailableError",
    "__version__",
    "arbitrary_style_net",
    "dists",
    "gradient_penalty",
    "gram_matrix",
    "lpips",
    "model_value_range",
    "multi_style_transfer_net",
    "patch_discriminator",
    "save_image",
    "stylize",
    "stylize_video",
    "style_transfer_net",
    "super_resolution_net",
    "temporal_warping_error",
    "total_variation",
    "upscale",
]
