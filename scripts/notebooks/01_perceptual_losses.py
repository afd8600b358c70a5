# ruff: noqa: F821, B905  (PAPER_SIZE, WEIGHTS, FeatureExtractor: from the [weights] cell)
# %% [markdown]
# # 1. What perceptual losses measure
#
# Johnson, Alahi & Fei-Fei ([ECCV 2016](https://arxiv.org/abs/1603.08155)) train image
# transformation networks with losses computed in the feature space of a frozen, pretrained
# VGG16, the *loss network* $\phi$, instead of on pixels:
#
# * **feature reconstruction loss** (Eq. 2): $\ell_{feat}^{\phi,j}(\hat y, y) =
#   \frac{1}{C_j H_j W_j}\lVert\phi_j(\hat y) - \phi_j(y)\rVert_2^2$, the distance between the
#   activations of layer $j$;
# * **style reconstruction loss** (Eqs. 3-4): $\ell_{style}^{\phi,j}(\hat y, y) =
#   \lVert G_j(\hat y) - G_j(y)\rVert_F^2$, the distance between Gram matrices
#   $G_j = \psi\psi^T / (C_j H_j W_j)$ of the activations $\psi$ reshaped to $C_j \times H_jW_j$.
#
# This notebook measures what each one pays attention to:
#
# 1. shift an image by one pixel: the per-pixel loss cannot tell it from visible noise, deep
#    feature losses can;
# 2. reconstruct an image from its features at `relu1_2` ... `relu4_3` (the paper's Figure 3);
# 3. look at Gram matrices, and what they ignore;
# 4. reconstruct an image from Gram matrices alone (the paper's Figure 5).
#
# **Loss network.** The paper's $\phi$ is VGG16 trained on ImageNet. The next cell uses it
# when it can be downloaded (or is already in Keras' cache). Without network access it uses
# `weights="hed_bsds500"` from the `offline` extra: the VGG16 of the HED edge detector,
# fine-tuned *from* ImageNet VGG16 for edge detection. **That stand-in is not ImageNet VGG16,
# and the results below differ from the paper's** (its features care more about edges and
# less about colour). Set the environment variable `KERAS_PERCEPTUAL_WEIGHTS` to a weights
# name or file to choose. The stored outputs were made with the weights printed below.

# %% [weights]

# %% [markdown]
# Settings. `PAPER_SIZE = True` (in the cell above) uses the paper's 256 px images and runs
# every optimization for longer; the default keeps the whole notebook to about a minute on
# two CPU cores.

# %%
import time

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from matplotlib.colors import LogNorm
from skimage import data, transform

from keras_perceptual import (
    FeatureReconstructionLoss,
    PerceptualLoss,
    StyleReconstructionLoss,
    gram_matrix,
)
from keras_perceptual.demo import asset_path
from keras_perceptual.images import load_image

SIZE = 256 if PAPER_SIZE else 64  # side of the images we optimize, pixels
STEPS = 500 if PAPER_SIZE else 100  # Adam steps per reconstruction
LAYERS = ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
keras.utils.set_random_seed(0)
plt.rcParams.update({"figure.dpi": 80, "image.interpolation": "nearest"})


def square(image, size):
    """Centre square of an image (uint8 or float), resized to size x size, float32 in [0, 1]."""
    image = np.asarray(image)
    image = image / 255.0 if image.dtype == np.uint8 else image
    h, w = image.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = image[top : top + s, left : left + s]
    return transform.resize(crop, (size, size), anti_aliasing=True).astype("float32")


photo = square(data.astronaut()[:340, 80:420], 2 * SIZE + 8)  # the face, with margin to shift
other = square(data.coffee(), 2 * SIZE)  # an unrelated photo
painting = load_image(asset_path("style_starry_night.jpg"))  # Van Gogh, 1889 (public domain)
print("photo", photo.shape, "painting", painting.shape)

# %% [markdown]
# ## 1. One pixel to the right
#
# Section 3 of the paper: *"consider two identical images offset from each other by one pixel;
# despite their perceptual similarity they would be very different as measured by per-pixel
# losses."* We crop the photo at offsets of 0 to 8 pixels and compare every crop with the crop
# at offset 0: with the per-pixel mean squared error and with the feature reconstruction loss
# at four layers.
#
# One `PerceptualLoss` gives all five numbers at once: several `content_layers`, no style term,
# a `pixel_weight`, and `compute_terms` returns each term per image (`reduction=None`).
#
# Raw values are not comparable across layers (their scales differ by orders of magnitude),
# so each loss is divided by its value between the photo and an **unrelated photo** (coffee):
# 1.0 means "as different as another picture". We also compare with Gaussian noise whose
# per-pixel MSE equals that of the one-pixel shift.

# %%
measure = PerceptualLoss(
    content_layers=LAYERS,
    style_layers=None,
    style_weight=0.0,
    tv_weight=0.0,
    pixel_weight=1.0,
    weights=WEIGHTS,
    reduction=None,
)
S = 2 * SIZE
reference = photo[:S, :S]
shifts = list(range(9))
shifted = [photo[:S, s : s + S] for s in shifts]  # s pixels to the right
mse_one = float(np.mean((shifted[1] - reference) ** 2))
noise = np.random.default_rng(0).normal(0.0, np.sqrt(mse_one), reference.shape)
noisy = np.clip(reference + noise, 0, 1).astype("float32")
candidates = np.stack([*shifted, other, noisy])
terms = measure.compute_terms(np.repeat(reference[None], len(candidates), 0), candidates)
names = ["pixel"] + [f"content/{layer}" for layer in LAYERS]
raw = {name: np.asarray(terms[name]) for name in names}
unrelated, with_noise = len(shifts), len(shifts) + 1
relative = {name: values / values[unrelated] for name, values in raw.items()}
print("relative to the unrelated photo (1.0 = as different as another picture):")
print(f"{'shift':>6}" + "".join(f"{n.split('/')[-1]:>10}" for n in names))
for i, s in enumerate(shifts):
    print(f"{s:>4}px" + "".join(f"{relative[n][i]:>10.3f}" for n in names))
print(f"{'noise':>6}" + "".join(f"{relative[n][with_noise]:>10.3f}" for n in names))

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw={"width_ratios": [1, 1.5, 1.5]})
diff = np.abs(shifted[1] - reference).mean(-1)
axes[0].imshow(diff, cmap="magma")
axes[0].set_title(f"|photo - photo shifted 1 px|\nper-pixel MSE {mse_one:.4f}")
axes[0].axis("off")
styles = {"pixel": "k-o"} | {f"content/{n}": f"C{i}-" for i, n in enumerate(LAYERS)}
for name in names:
    axes[1].plot(shifts, relative[name][: len(shifts)], styles[name], label=name.replace("content/", "feature "))
axes[1].set(xlabel="shift (pixels)", ylabel="loss / loss(unrelated photo)",
            title="Loss against shift, normalized")
axes[1].legend()
axes[1].grid(alpha=0.3)
x = np.arange(len(names))
axes[2].bar(x - 0.2, [relative[n][1] for n in names], 0.4, label="photo shifted 1 px")
axes[2].bar(x + 0.2, [relative[n][with_noise] for n in names], 0.4,
            label="noise of the same pixel MSE")
axes[2].set_xticks(x, [n.replace("content/", "") for n in names])
axes[2].set(ylabel="loss / loss(unrelated photo)", title="A 1 px shift vs visible noise")
axes[2].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# What to read in the plot (the numbers are printed above; they depend on the weights):
#
# * Left: a one-pixel shift changes every pixel on every edge.
# * Right: the **pixel loss** cannot tell that shift, which nobody would notice, from visible
#   noise: by construction both have the same MSE (the two bars of equal height). Measured
#   against "another photo" the shift's pixel loss is not huge; what is wrong with it is that
#   it ranks an invisible change like a visible one.
# * **Deep features** (`relu3_3`, `relu4_3`) have pooled two or three times and their units
#   see 40 and 92 pixel neighbourhoods: they rate the one-pixel shift two to four times
#   *smaller* than the noise. On the shift curve (middle) `relu4_3` stays below the pixel
#   loss for shifts of several pixels while `relu3_3` tracks it, and neither is
#   shift-invariant: by 8 px, a whole `relu4_3` cell, they have caught up. Tolerance of
#   *small* misplacements is what lets a network trained with a feature loss draw a sharp
#   edge one pixel off instead of a blurred edge in the average place (notebook 3).
# * **Shallow features** (`relu1_2`, `relu2_2`) are *more* shift-sensitive than pixels: they
#   are local edge detectors at full or half resolution (the stand-in's are trained edge
#   detectors), and rate the shift worse than the noise. The paper's choice of `relu2_2` as the
#   content layer trades this off against keeping detail (section 2 below).

# %% [markdown]
# ## 2. What do the features remember? (Figure 3)
#
# Start from noise and change the pixels until their features at layer $j$ match the photo's:
# minimize $\ell_{feat}^{\phi,j}(\hat y, y)$ over $\hat y$ with Adam, for each of the four
# layers. Whatever survives in the reconstruction is what the layer keeps. A small total
# variation term (mean absolute difference of neighbouring pixels) keeps the optimization from
# filling the image with high-frequency noise the features cannot see; the loss is divided by
# its starting value so that one learning rate and one TV weight suit every layer.


# %% [thumbnail]
def reconstruct(objective, steps=STEPS, size=SIZE, learning_rate=0.05, tv=0.1, seed=0):
    """Optimizes pixels from noise to minimize objective(image); returns the image, the curve."""
    start = np.random.default_rng(seed).uniform(0.4, 0.6, (1, size, size, 3)).astype("float32")
    image = tf.Variable(start)
    optimizer = keras.optimizers.Adam(learning_rate)
    scale = float(objective(image))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            value = objective(image) / scale
            smooth = tf.reduce_mean(tf.abs(image[:, 1:] - image[:, :-1])) + tf.reduce_mean(
                tf.abs(image[:, :, 1:] - image[:, :, :-1])
            )
            total = value + tv * smooth
        optimizer.apply_gradients([(tape.gradient(total, image), image)])
        image.assign(tf.clip_by_value(image, 0.0, 1.0))
        return value

    curve = [float(step()) for _ in range(steps)]
    return image.numpy()[0], curve


target = square(reference, SIZE)[None]  # the unshifted photo, SIZE x SIZE
feature_results = {}
started = time.perf_counter()
for layer in LAYERS:
    loss = FeatureReconstructionLoss(layer, weights=WEIGHTS)
    feature_results[layer] = reconstruct(lambda y, loss=loss: loss(target, y))
print(f"4 reconstructions of {SIZE}x{SIZE} px, {STEPS} steps each: "
      f"{time.perf_counter() - started:.1f} s")

fig, axes = plt.subplots(1, 5, figsize=(15, 3.6), layout="constrained")
axes[0].imshow(target[0])
axes[0].set_title("original $y$")
for ax, layer in zip(axes[1:], LAYERS):
    image, curve = feature_results[layer]
    ax.imshow(image)
    ax.set_title(f"from {layer}\nloss {curve[-1]:.3f} of start")
for ax in axes:
    ax.axis("off")
fig.suptitle("Feature reconstruction: pixels optimized so that $\\phi_j(\\hat y) = \\phi_j(y)$")
plt.show()

# %% [markdown]
# As in the paper's Figure 3: from `relu1_2` the photo comes back almost exactly; from higher
# layers the layout and the shapes survive (face, hair, collar) while the exact colours and
# fine texture are lost. A network trained to match `relu2_2` or deeper is therefore free to
# change colour and texture, which is exactly what style transfer needs, and is not held to
# each pixel, which helps super-resolution produce sharp edges. (With the edge-detector
# stand-in, colour fades faster with depth than with ImageNet VGG16.)
#
# ## 3. Gram matrices: which features occur together, not where
#
# $G_j[c, c'] = \frac{1}{C_j H_j W_j} \sum_{h,w} \phi_j(x)_{h,w,c}\,\phi_j(x)_{h,w,c'}$ sums
# over positions, so it keeps *which* features fire together and forgets *where*.
# `keras_perceptual.gram_matrix` computes it, `(batch, C, C)`. Below: the Gram matrices at
# `relu1_2` (64 channels) of the photo, of the same photo with its four quarters swapped, and
# of the painting, on a log colour scale (a few channels dominate).

# %%
style_relu1 = StyleReconstructionLoss("relu1_2", weights=WEIGHTS, reduction=None)
content_relu1 = FeatureReconstructionLoss("relu1_2", weights=WEIGHTS, reduction=None)
fx = FeatureExtractor("relu1_2", weights=WEIGHTS)

whole = reference[None]  # the 2*SIZE px photo of section 1
half = S // 2
shuffled = whole.copy()  # the photo cut into four tiles, put back in another order
shuffled[:, :half, :half], shuffled[:, half:, half:] = whole[:, half:, half:], whole[:, :half, :half]
shuffled[:, :half, half:], shuffled[:, half:, :half] = whole[:, half:, :half], whole[:, :half, half:]
art = square(painting, S)[None]
images = {"photo": whole, "photo, tiles shuffled": shuffled, "painting": art}
grams = {name: np.asarray(gram_matrix(fx(image)["relu1_2"]))[0] for name, image in images.items()}
grams["|photo - shuffled|"] = np.abs(grams["photo"] - grams["photo, tiles shuffled"])
pairs = np.concatenate([whole, whole]), np.concatenate([shuffled, art])
feature_values = np.asarray(content_relu1(*pairs))
style_values = np.asarray(style_relu1(*pairs))

norm = LogNorm(vmin=1e-2, vmax=max(g.max() for g in grams.values()))
fig, axes = plt.subplots(2, 4, figsize=(15, 7.4), layout="constrained",
                         gridspec_kw={"height_ratios": [1, 2.4]})
for ax, (name, image) in zip(axes[0], images.items()):
    ax.imshow(image[0])
    ax.set_title(name)
    ax.set_xticks([])
    ax.set_yticks([])
axes[0, 3].axis("off")
axes[0, 3].text(0, 0.5, "photo compared with:\n"
                f"{'':14}shuffled   painting\n"
                f"feature loss {feature_values[0]:9.3g} {feature_values[1]:9.3g}\n"
                f"style loss   {style_values[0]:9.3g} {style_values[1]:9.3g}\n"
                "(both at relu1_2)", family="monospace", va="center")
for ax, (name, gram) in zip(axes[1], grams.items()):
    shown = ax.imshow(np.maximum(gram, 1e-2), cmap="magma", norm=norm)
    ax.set_title(f"$G$ at relu1_2: {name}")
    ax.set_xlabel("channel")
fig.colorbar(shown, ax=axes[1], shrink=0.7, label="Gram entry (log scale)")
plt.show()
print(f"style loss, shuffled / painting: {style_values[0] / style_values[1]:.2%}; "
      f"feature loss, shuffled / painting: {feature_values[0] / feature_values[1]:.0%}")


# %% [markdown]
# Shuffling the tiles moves every pixel but keeps almost every local neighbourhood: the Gram
# matrix hardly changes (the style loss is a small fraction of the painting's; what remains
# comes from the seams between tiles), while the feature loss is as large as for the painting.
# (Flipping the photo would *not* keep the Gram matrix: VGG's filters are oriented, so an
# upside-down edge excites other channels.) That is why the style loss can ask an output to "look like Starry Night"
# without asking any pixel to be anywhere in particular. Its size also differs by orders of
# magnitude from the feature loss: the reason weighting them (notebook 2) takes care.
#
# ## 4. What do Gram matrices remember? (Figure 5)
#
# Now minimize the style loss $\ell_{style}^{\phi,j}$ alone, from noise, towards the painting,
# one layer at a time (`StyleReconstructionLoss(layer, style_image=painting)` computes the
# painting's Gram matrices once and keeps them as constants).

# %%
style_target = square(painting[:, :320], SIZE)  # the left, swirling part, SIZE x SIZE
style_results = {}
started = time.perf_counter()
for layer in LAYERS:
    loss = StyleReconstructionLoss(layer, style_image=style_target, weights=WEIGHTS)
    style_results[layer] = reconstruct(lambda y, loss=loss: loss(y, y), tv=0.3, seed=1)
print(f"4 style reconstructions, {STEPS} steps each: {time.perf_counter() - started:.1f} s")

fig, axes = plt.subplots(1, 5, figsize=(15, 3.6), layout="constrained")
axes[0].imshow(style_target)
axes[0].set_title("style target $y_s$")
for ax, layer in zip(axes[1:], LAYERS):
    image, curve = style_results[layer]
    ax.imshow(image)
    ax.set_title(f"from $G$ at {layer}\nloss {curve[-1]:.3f} of start")
for ax in axes:
    ax.axis("off")
fig.suptitle("Style reconstruction: pixels optimized so that $G_j(\\hat y) = G_j(y_s)$")
plt.show()

fig, ax = plt.subplots(figsize=(7, 3))
for layer in LAYERS:
    ax.semilogy(feature_results[layer][1], label=f"feature {layer}")
    ax.semilogy(style_results[layer][1], "--", label=f"style {layer}")
ax.set(xlabel="Adam step", ylabel="loss / loss at start", title="Optimization curves")
ax.legend(ncol=2, fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# The style reconstructions keep colours, strokes and textures but no layout: nothing says
# *where* a swirl goes. From `relu1_2` and `relu2_2` come the painting's blues and yellows in
# small strokes; the deeper layers' Gram matrices describe larger structures (the paper's
# Figure 5), but here they come out as noisy, rainbow-coloured curves: at 64 px and 100 steps
# the optimization is far from converged, and the stand-in's deep features (an edge
# detector's) barely constrain colour. `PAPER_SIZE = True` runs 256 px images for 500 steps;
# ImageNet weights give the paper's look.
#
# **Take-aways for training.** A feature loss at `relu2_2` asks for the same content and
# layout without fixing each pixel; a style loss over `relu1_2` ... `relu4_3` asks for the
# painting's colours and textures anywhere. Their weighted sum plus total variation is the
# paper's style-transfer objective (Eq. 5, `PerceptualLoss()`); the feature term alone is its
# super-resolution objective. Notebooks 2 and 3 train networks with them.
