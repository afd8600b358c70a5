"""Keras losses: the paper's perceptual losses and companion restoration losses.

* ``perceptual``: feature reconstruction, style reconstruction, total variation and
  their weighted sum (Johnson et al. 2016).
* ``pixel``: Charbonnier, edge and color losses.
* ``adversarial``: GAN, Wasserstein and WGAN-GP terms.
* ``temporal``: temporal consistency for video (Ruder et al. 2016, Huang et al. 2017,
  Gupta et al. 2017).
* ``lpips``, ``dists``: the learned perceptual metrics LPIPS (Zhang et al. 2018) and
  DISTS (Ding et al. 2020) as losses and functions (their Keras metrics are in
  ``keras_perceptual.metrics``).
* ``divergence``: Jensen-Shannon divergence and entropy (for KL and cross-entropy use
  Keras' own ``keras.losses.KLDivergence`` / ``CategoricalCrossentropy``).
"""

from keras_perceptual.losses.adain import AdaINLoss, adain_content_loss, adain_style_loss
from keras_perceptual.losses.adversarial import (
    DiscriminatorLoss,
    GeneratorLoss,
    WassersteinLoss,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    gradient_penalty,
    wasserstein_loss,
)
from keras_perceptual.losses.base import ImageLoss
from keras_perceptual.losses.dists import DISTSLoss, dists
from keras_perceptual.losses.divergence import (
    Entropy,
    JensenShannonDivergence,
    entropy,
    jensen_shannon_divergence,
)
from keras_perceptual.losses.lpips import LPIPSLoss, lpips
from keras_perceptual.losses.perceptual import (
    PRESETS,
    FeatureReconstructionLoss,
    PerceptualLoss,
    StyleReconstructionLoss,
    TotalVariationLoss,
    feature_reconstruction,
    pack_style_targets,
    pixel_reconstruction,
    style_reconstruction,
)
from keras_perceptual.losses.pixel import (
    CharbonnierLoss,
    ColorLoss,
    EdgeLoss,
    angular_color_loss,
    blur_color_loss,
    charbonnier_loss,
    edge_loss,
)
from keras_perceptual.losses.temporal import (
    TemporalConsistency,
    TemporalLoss,
    temporal_loss,
)

__all__ = [
    "PRESETS",
    "AdaINLoss",
    "CharbonnierLoss",
    "ColorLoss",
    "DISTSLoss",
    "DiscriminatorLoss",
    "EdgeLoss",
    "Entropy",
    "FeatureReconstructionLoss",
    "GeneratorLoss",
    "ImageLoss",
    "JensenShannonDivergence",
    "LPIPSLoss",
    "PerceptualLoss",
    "StyleReconstructionLoss",
    "TemporalConsistency",
    "TemporalLoss",
    "TotalVariationLoss",
    "WassersteinLoss",
    "adain_content_loss",
    "adain_style_loss",
    "angular_color_loss",
    "blur_color_loss",
    "charbonnier_loss",
    "discriminator_adversarial_loss",
    "dists",
    "edge_loss",
    "entropy",
    "feature_reconstruction",
    "generator_adversarial_loss",
    "gradient_penalty",
    "jensen_shannon_divergence",
    "lpips",
    "pack_style_targets",
    "pixel_reconstruction",
    "style_reconstruction",
    "temporal_loss",
    "wasserstein_loss",
]
