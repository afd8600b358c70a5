# ruff: noqa: F821, B905  (PAPER_SIZE, WEIGHTS, FeatureExtractor: from the [weights] cell)
# %% [markdown]
# # 2. Fast style transfer
#
# Gatys et al. (2016) stylize a photo by *optimizing its pixels* against a style loss and a
# content loss: hundreds of forward and backward passes through VGG per image. Johnson et al.
# (2016, Section 4.1) train a feed-forward **image transformation network** $f_W$ once, on
# many photos, to minimize the same objective (their Eq. 5):
#
# $$\lambda_c\,\ell_{feat}^{\phi,relu2\_2}(f_W(x), x) + \lambda_s \sum_{j}
# \ell_{style}^{\phi,j}(f_W(x), y_s) + \lambda_{TV}\,\ell_{TV}(f_W(x))$$
#
# and then stylize any photo with **one forward pass**. In Keras that is `model.compile` with
# `PerceptualLoss(style_image=...)` and `model.fit(photos, photos)`: the content target of each
# photo is the photo itself.
#
# This notebook trains a small style network on a handful of photos with Van Gogh's *The
# Starry Night*, plots the loss and each of its terms, stylizes photos it has never seen,
# compares style weights, keeps the photo's colours with `preserve_color`, and measures one
# forward pass against optimizing an image (the paper's Table 1).
#
# **Loss network.** The paper's $\phi$ is VGG16 trained on ImageNet. The next cell uses it
# when it can be downloaded (or is already in Keras' cache). Without network access it uses
# `weights="hed_bsds500"` from the `offline` extra: the VGG16 of the HED edge detector,
# fine-tuned *from* ImageNet VGG16 for edge detection. **That stand-in is not ImageNet VGG16,
# and the results below differ from the paper's.** Set the environment variable
# `KERAS_PERCEPTUAL_WEIGHTS` to a weights name or file to choose. The stored outputs were
# made with the weights printed below.

# %% [weights]

# %% [markdown]
# ## Settings
#
# The paper trains the full-width network (32 filters in the first layer, 1.68M parameters)
# on 256 px crops of 80,000 COCO photos, batch 4, for 40,000 steps. Here, by default: a
# half-width network, 96 px crops of eight photos, batch 1 and a few hundred steps, about two
# minutes on two CPU cores. `PAPER_SIZE = True` switches to the paper's network, crops, batch
# and length; that needs a GPU and a photo collection (put your own photos in `PHOTOS`).

# %%
import platform
import time

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from matplotlib_inline.backend_inline import set_matplotlib_formats
from skimage import data, transform

from keras_perceptual import PerceptualLoss, style_transfer_net, stylize
from keras_perceptual.demo import asset_path
from keras_perceptual.images import load_image
from keras_perceptual.losses.perceptual import DEFAULT_STYLE_WEIGHT, DEFAULT_TV_WEIGHT

SIZE = 256 if PAPER_SIZE else 96  # side of the training crops
STEPS = 40_000 if PAPER_SIZE else 400  # training steps
BATCH = 4 if PAPER_SIZE else 1  # photos per step
FILTERS = 32 if PAPER_SIZE else 16  # width of the network's first layer (paper: 32)
STYLE_SIDE = 256 if PAPER_SIZE else 192  # the painting's shorter side, pixels
LOG_EVERY = 500 if PAPER_SIZE else 20  # steps between measurements of the loss terms
FINE_TUNE = 2_000 if PAPER_SIZE else 50  # steps for each other style weight (section 4)
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
plt.rcParams.update({"figure.dpi": 72})
set_matplotlib_formats("jpeg", pil_kwargs={"quality": 90})  # photos: JPEG is 5x smaller than PNG
# stylize() compiles one function per image size; TensorFlow warns about that retracing.
tf.get_logger().setLevel("ERROR")


def shorter_side(image, side):
    """Float32 RGB in [0, 1], resized so that its shorter side has `side` pixels."""
    image = np.asarray(image)
    image = image / 255.0 if image.dtype == np.uint8 else image
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    h, w = image.shape[:2]
    scale = side / min(h, w)
    shape = (round(h * scale), round(w * scale))
    return transform.resize(image[..., :3], shape, anti_aliasing=True).astype("float32")


# Training photos (scikit-image's sample data, public domain / CC0) and photos held out.
PHOTOS = {
    "coffee": data.coffee(),
    "rocket": data.rocket(),
    "motorcycle": data.stereo_motorcycle()[0],
    "hubble": data.hubble_deep_field(),
    "cells": data.immunohistochemistry(),
    "camera": data.camera(),
    "brick": data.brick(),
    "coins": data.coins(),
}
HELD_OUT = {"cat": data.chelsea(), "astronaut": data.astronaut()}
train_photos = [shorter_side(image, 2 * SIZE) for image in PHOTOS.values()]
style = shorter_side(load_image(asset_path("style_starry_night.jpg")), STYLE_SIDE)


def random_crops(photos, count, size):
    """Random size x size crops, half of them mirrored."""
    crops = []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        top = rng.integers(photo.shape[0] - size + 1)
        left = rng.integers(photo.shape[1] - size + 1)
        crop = photo[top : top + size, left : left + size]
        crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    return np.stack(crops)


crops = random_crops(train_photos, STEPS * BATCH, SIZE)
held_out = [shorter_side(image, 2 * SIZE) for image in HELD_OUT.values()]
check = random_crops(held_out, 4, SIZE)  # for measuring the loss terms during training

fig, axes = plt.subplots(1, 7, figsize=(13, 2.3), layout="constrained",
                         gridspec_kw={"width_ratios": [1] * 6 + [1.7]})
for ax, crop in zip(axes, crops[:6]):
    ax.imshow(crop)
    ax.axis("off")
axes[0].set_title(f"training crops ({len(crops)} of {SIZE} px from {len(PHOTOS)} photos)",
                  loc="left")
axes[6].imshow(style)
axes[6].set_title(f"style: The Starry Night, {style.shape[1]}x{style.shape[0]}")
axes[6].axis("off")
plt.show()

# %% [markdown]
# ## 1. The network and the loss
#
# `style_transfer_net()` is the paper's network (supplementary material): a 9x9 convolution,
# two stride-2 convolutions, five residual blocks, two x2 up-sampling steps and a 9x9
# convolution into a scaled tanh, with instance normalization (the official code's later
# choice). We use `upsampling="resize"` (nearest neighbour + convolution) instead of the
# paper's transposed convolutions: it avoids checkerboard artifacts, which short runs show
# most (Odena et al. 2016).
#
# `PerceptualLoss(style_image=...)` with no other argument is the paper's objective: content
# at `relu2_2`, style at `relu1_2, relu2_2, relu3_3, relu4_3`, total variation, and this
# library's default weights, printed below (the paper did not publish its values; the
# docstring says how these were chosen). The painting's Gram matrices are computed once.

# %%
model = style_transfer_net(filters=FILTERS, upsampling="resize")
loss = PerceptualLoss(style_image=style, weights=WEIGHTS)
print(f"network: {model.count_params():,} parameters")
print(f"loss weights: content {loss.content_weight}, style {loss.style_weight}, "
      f"TV {loss.tv_weight} (library defaults: style {DEFAULT_STYLE_WEIGHT}, "
      f"TV {DEFAULT_TV_WEIGHT})")
untrained = loss.compute_terms(check, model(check))
print("per-image terms of the untrained network, before weighting:")
for name in ("content", "style", "tv"):
    print(f"  {name:8} {float(np.mean(untrained[name])):12.4g}")

# %% [markdown]
# The raw terms differ by orders of magnitude (the style term sums squared Gram differences
# over four layers); the weights bring them to comparable sizes. `compute_terms` returns each
# term per image before weighting, plus one entry per layer (`"style/relu1_2"`, ...).
#
# ## 2. Training with `fit`
#
# The crops are both input and target. `fit` runs `STEPS / LOG_EVERY` short epochs so that a
# small callback can measure every term of the loss on four held-out crops between them.


# %%
class LossTerms(keras.callbacks.Callback):
    """Every epoch: each weighted loss term, averaged over held-out images."""

    def __init__(self, loss, images, steps_per_epoch):
        super().__init__()
        self.loss, self.images, self.steps_per_epoch = loss, images, steps_per_epoch
        self.weights = {"content": loss.content_weight, "style": loss.style_weight,
                        "tv": loss.tv_weight}
        self.rows = []

    def measure(self, step):
        terms = self.loss.compute_terms(self.images, self.model(self.images, training=False))
        row = {name: weight * float(np.mean(terms[name])) for name, weight in self.weights.items()}
        self.rows.append({"step": step, **row, "total": sum(row.values())})

    def on_train_begin(self, logs=None):
        if not self.rows:
            self.measure(0)

    def on_epoch_end(self, epoch, logs=None):
        self.measure((epoch + 1) * self.steps_per_epoch)


terms_log = LossTerms(loss, check, LOG_EVERY)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
started = time.perf_counter()
history = model.fit(crops, crops, batch_size=BATCH, epochs=STEPS // LOG_EVERY,
                    steps_per_epoch=LOG_EVERY, shuffle=False, callbacks=[terms_log], verbose=0)
train_seconds = time.perf_counter() - started
print(f"{STEPS} steps of batch {BATCH} at {SIZE} px: {train_seconds:.0f} s "
      f"({train_seconds / STEPS:.2f} s per step)")

# %%
rows = terms_log.rows
steps = [r["step"] for r in rows]
fig, axes = plt.subplots(1, 2, figsize=(13, 3.8), layout="constrained")
train_steps = np.arange(1, len(history.history["loss"]) + 1) * LOG_EVERY
axes[0].plot(train_steps, history.history["loss"], "k-", label="training loss (mean per epoch)")
axes[0].plot(steps, [r["total"] for r in rows], "C3o-", ms=3, label="held-out crops")
axes[0].set(xlabel="step", ylabel="loss", title="Total loss (Eq. 5)", yscale="log")
axes[0].legend()
for name, color in (("content", "C0"), ("style", "C1"), ("tv", "C2")):
    axes[1].plot(steps, [r[name] for r in rows], f"{color}o-", ms=3,
                 label=f"{name} x {terms_log.weights[name]:g}")
axes[1].set(xlabel="step", ylabel="weighted term (held-out crops)", yscale="log",
            title="Each term of the loss, as weighted in the total")
axes[1].legend()
for ax in axes:
    ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# At step 0 the untrained network outputs a grey, noisy image, and the weighted content and
# style terms are about equal (the default weights were chosen for that balance). Within the
# first 20 steps both fall by an order of magnitude: the output now follows the photo, in the
# painting's palette. The style term keeps falling for about a hundred more steps (strokes)
# while the content term settles slowly; by the end the content term is the larger share of
# the total, and the TV term stays a light smoothness prior. The curves are still falling:
# the paper trains for 40,000 steps, not a few hundred.
#
# ## 3. Stylizing photos the network has never seen
#
# `stylize(model, images)` takes arrays, lists of arrays of any size, or file paths; the
# network is fully convolutional, so photos need not have the training size.

# %% [thumbnail]
test_photos = [shorter_side(image, 2 * SIZE if PAPER_SIZE else 192) for image in HELD_OUT.values()]
stylized = stylize(model, test_photos)
kept_colour = stylize(model, test_photos, preserve_color=True)
fig, axes = plt.subplots(2, 3, figsize=(11.5, 5.4), layout="constrained")
for row, (photo, out, colour) in enumerate(zip(test_photos, stylized, kept_colour)):
    for ax, image, title in zip(axes[row], (photo, out, colour),
                                ("photo (not trained on)", "stylized",
                                 "stylized, preserve_color=True")):
        ax.imshow(image)
        ax.set_title(title)
        ax.axis("off")
plt.show()

# %% [markdown]
# `preserve_color=True` keeps the photo's colours and takes only the luminance of the
# stylized image (Gatys et al. 2016, "Preserving colour in neural artistic style transfer"):
# the strokes stay, the palette goes back to the photo's.
#
# ## 4. How much style? Comparing style weights
#
# The style weight $\lambda_s$ sets how far the output may leave the photo to match the
# painting. Training a network per setting from scratch would multiply this notebook's
# running time, so the other two settings start from the network trained above and continue
# for `FINE_TUNE` steps with their own weight (`keras.models.clone_model` + `set_weights`, a
# new `compile`). A from-scratch run per setting shows the same direction, more strongly.

# %%
multiples = [0.1, 1.0, 10.0]
tuned = {}
started = time.perf_counter()
for multiple in multiples:
    if multiple == 1.0:
        tuned[multiple] = model
        continue
    variant = keras.models.clone_model(model)
    variant.set_weights(model.get_weights())
    variant.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=PerceptualLoss(style_image=style, style_weight=multiple * loss.style_weight,
                            weights=WEIGHTS),
    )
    more = random_crops(train_photos, FINE_TUNE * BATCH, SIZE)
    variant.fit(more, more, batch_size=BATCH, epochs=1, verbose=0)
    tuned[multiple] = variant
print(f"fine-tuning {len(multiples) - 1} variants: {time.perf_counter() - started:.0f} s")

photo = test_photos[0]
fig, axes = plt.subplots(1, 4, figsize=(13, 2.6), layout="constrained")
axes[0].imshow(photo)
axes[0].set_title("photo")
for ax, multiple in zip(axes[1:], multiples):
    ax.imshow(stylize(tuned[multiple], photo))
    extra = "" if multiple == 1.0 else f", +{FINE_TUNE} steps"
    ax.set_title(f"style weight {multiple:g} x {loss.style_weight:g}{extra}")
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# Even 50 steps move the network visibly. With a tenth of the style weight the painting's
# blue cast recedes towards grey and the photo's own contrast and fine structure come back;
# with ten times the weight the painting's strokes and dark swirls take over the cat. (Colours
# come back only slowly: a network that has learned the palette needs many steps to unlearn
# it. Trained from scratch, a low style weight keeps the photo's colours.) The right value
# depends on the painting, the loss network's weights and the image size, which is why
# `style_weight` is the argument to tune first.
#
# ## 5. Speed: one forward pass vs optimizing the image (the paper's Table 1)
#
# The optimization-based method (Gatys et al.) minimizes the same loss over the pixels of
# each new image: every iteration is a forward and a backward pass through VGG16. Here we
# run Adam on the pixels, from the photo, with the default weights: first 60 steps at the
# training size to see the result, then the time per iteration at several sizes, against the
# time of one forward pass of the trained network. The paper (Table 1, GTX Titan X GPU)
# reports 100, 300 and 500 L-BFGS iterations of Gatys et al. at 256, 512 and 1024 px.


# %%
def optimize_image(photo, steps, learning_rate=0.02):
    """Adam on the pixels, from the photo, minimizing the same PerceptualLoss."""
    target = tf.constant(photo[None])
    image = tf.Variable(photo[None])
    optimizer = keras.optimizers.Adam(learning_rate)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            value = loss(target, image)
        optimizer.apply_gradients([(tape.gradient(value, image), image)])
        image.assign(tf.clip_by_value(image, 0.0, 1.0))
        return value

    step()  # trace once, outside the timing
    started = time.perf_counter()
    for _ in range(steps - 1):
        step()
    return image.numpy()[0], (time.perf_counter() - started) / (steps - 1)


small = shorter_side(HELD_OUT["cat"], SIZE)[:, :SIZE]
OPT_STEPS = 300 if PAPER_SIZE else 60
optimized, seconds_per_iteration = optimize_image(small, OPT_STEPS)
forward = tf.function(lambda x: model(x, training=False))


def time_forward(size, repeats=5):
    x = tf.constant(rng.random((1, size, size, 3), dtype="float32"))
    forward(x)  # trace and warm up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        forward(x).numpy()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


sizes = [256, 512, 1024] if PAPER_SIZE else [64, 128, 256]
iterations = [100, 300, 500]
table = []
for size in sizes:
    x = rng.random((size, size, 3), dtype="float32")
    _, per_iteration = optimize_image(x, 4)
    table.append((size, per_iteration, time_forward(size)))

devices = tf.config.list_physical_devices("GPU") or ["CPU only"]
print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPU "
      f"cores visible, TensorFlow {tf.__version__}, devices: {devices}")
print(f"network: {model.count_params():,} parameters (paper: 1.68M)\n")
header = f"{'size':>6} {'forward pass':>13} " + " ".join(f"{f'opt. {n} it.':>12}" for n in iterations)
print(header + f" {'speed-up at 100 it.':>20}")
for size, per_iteration, one_pass in table:
    cells = " ".join(f"{per_iteration * n:11.1f}s" for n in iterations)
    print(f"{size:>4}px {one_pass * 1000:11.1f}ms {cells} {per_iteration * 100 / one_pass:19.0f}x")

fig, axes = plt.subplots(1, 3, figsize=(8, 3.2), layout="constrained")
axes[0].imshow(small)
axes[0].set_title("photo")
axes[1].imshow(optimized)
axes[1].set_title(f"optimized: {OPT_STEPS} Adam steps\n{OPT_STEPS * seconds_per_iteration:.1f} s")
one_pass = time_forward(SIZE)
axes[2].imshow(stylize(model, small))
axes[2].set_title(f"network: one forward pass\n{one_pass * 1000:.0f} ms")
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# The forward pass is two to three orders of magnitude faster than the optimization, as in
# the paper's Table 1 (measured there on a GTX Titan X GPU; the abstract sums it up as "three
# orders of magnitude faster"). The ratio grows with the number of iterations, and the paper
# counts L-BFGS iterations, which converge in fewer steps than Adam; the network here is
# also half the paper's width. The price is paid once, at training time, and a network
# knows one style.
#
# The 60-step optimization reaches a different point of the same objective: it starts from
# the photo and keeps its high-frequency detail, which turns into coloured noise, where the
# network has learned one smooth mapping for many photos.
