# ruff: noqa: F821, B905  (PAPER_SIZE, WEIGHTS, FeatureExtractor: from the [weights] cell)
# %% [markdown]
# # 4. Export and serve
#
# The point of the paper's feed-forward networks is speed at test time: one forward pass per
# image. This notebook takes a trained network to where it runs:
#
# 1. train a small x4 super-resolution network and save it (`model.save`, `load_model`);
# 2. export it for **TF Serving** (`export_for_serving`) and inspect its signatures, with
#    `saved_model_cli` and with `tf.saved_model.load`;
# 3. call every signature the way a server does, in a process that does not import
#    `keras_perceptual` (or Keras);
# 4. convert it to **TFLite** (`export_tflite`) and check it against the Keras model;
# 5. write the **REST request** a client would send to TF Serving (printed, not sent: there is
#    no server here).
#
# **Loss network.** Only step 1 uses a loss network, and only if you switch the training
# loss to a perceptual one; the exported graph never contains VGG. For consistency with the
# other notebooks the next cell still chooses the weights: the paper's ImageNet VGG16 when it
# can be downloaded, else `weights="hed_bsds500"` from the `offline` extra, **a stand-in that
# is not ImageNet VGG16** (results with it differ from the paper's), or whatever
# `KERAS_PERCEPTUAL_WEIGHTS` names.

# %% [weights]

# %% [markdown]
# ## 1. A trained network
#
# A x4 network with the bicubic skip (`skip="bicubic"`: the bicubic up-sampling is added to
# its output, so it starts at bicubic quality), trained briefly with the pixel loss on
# patches of the sample photos: what matters here is the file, not its quality (notebook 3
# compares the losses). `PAPER_SIZE = True` trains the paper's width for longer and with the
# feature loss.

# %%
import base64
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from skimage import data

from keras_perceptual import PerceptualLoss, super_resolution_net
from keras_perceptual.data import sr_degrade
from keras_perceptual.export import export_for_serving, export_tflite

STEPS = 20_000 if PAPER_SIZE else 150
NET = {"filters": 64} if PAPER_SIZE else {"filters": 16, "num_residual_blocks": 2}
LOSS = (PerceptualLoss.from_preset("johnson2016_sr", weights=WEIGHTS) if PAPER_SIZE
        else "mean_squared_error")
WORK = pathlib.Path(tempfile.mkdtemp(prefix="export_demo_"))  # everything is written here
plt.rcParams.update({"figure.dpi": 72})
tf.get_logger().setLevel("ERROR")
rng = np.random.default_rng(0)


def as_float(image):
    image = np.asarray(image)
    return (image / 255.0).astype("float32") if image.dtype == np.uint8 else image


photos = [as_float(f()) for f in (data.coffee, data.rocket, data.astronaut, data.chelsea)]
patches = []
for _ in range(STEPS * 4):
    photo = photos[rng.integers(len(photos))]
    top, left = rng.integers(photo.shape[0] - 64), rng.integers(photo.shape[1] - 64)
    patches.append(photo[top : top + 64, left : left + 64])
high = np.stack(patches)
low = sr_degrade(high, 4)

keras.utils.set_random_seed(0)
model = super_resolution_net(4, skip="bicubic", **NET)
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=LOSS)
started = time.perf_counter()
model.fit(low, high, batch_size=4, epochs=1, verbose=0)
print(f"trained {STEPS} steps in {time.perf_counter() - started:.0f} s; "
      f"{model.count_params():,} parameters")

model.save(WORK / "sr4.keras")
reloaded = keras.models.load_model(WORK / "sr4.keras", safe_mode=True)  # no Lambda layers
probe = low[:2]
print("reloaded model gives identical outputs:",
      np.array_equal(model.predict(probe, verbose=0), reloaded.predict(probe, verbose=0)))

# %% [markdown]
# ## 2. Export for TF Serving
#
# TF Serving watches a *base path* and serves its highest numbered sub-folder.
# `export_for_serving(model, base)` writes the next free version (`base/1`; called again,
# `base/2`, ...), atomically: a server never sees a half-written folder. The SavedModel has three
# signatures: `serving_default` (float32 images), `serve_uint8` (0-255 pixels) and
# `serve_encoded` (PNG/JPEG file bytes in, PNG bytes out).

# %%
base = WORK / "serving" / "sr4"
started = time.perf_counter()
version_dir = export_for_serving(reloaded, base)
print(f"exported to {version_dir} in {time.perf_counter() - started:.0f} s")
for path in sorted(pathlib.Path(version_dir).rglob("*")):
    if path.is_file():
        print(f"  {path.relative_to(base)}  ({path.stat().st_size / 1024:.0f} KiB)")

# %% [markdown]
# `saved_model_cli` (installed with TensorFlow) lists what a client can call. We run it as a
# module of this Python, so it works wherever TensorFlow is installed:

# %%
show = subprocess.run(
    [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show",
     "--dir", version_dir, "--tag_set", "serve", "--signature_def", "serve_encoded"],
    capture_output=True, text=True, check=True,
)
print("$ saved_model_cli show --dir", version_dir, "--tag_set serve --signature_def serve_encoded")
print(show.stdout)

served = tf.saved_model.load(version_dir)  # what TF Serving does; no Keras involved
for key, function in served.signatures.items():
    inputs = function.structured_input_signature[1]
    outputs = function.structured_outputs
    print(f"{key:16} inputs {({k: (v.dtype.name, tuple(v.shape)) for k, v in inputs.items()})}")
    print(f"{'':16} outputs {({k: (v.dtype.name, tuple(v.shape)) for k, v in outputs.items()})}")

# %% [markdown]
# ## 3. Calling the signatures as a server does
#
# A server process has TensorFlow and the SavedModel, nothing else. The script below runs in
# a fresh Python process in which `keras_perceptual` and `keras` *cannot* be imported (their
# `sys.modules` entries are blocked before TensorFlow loads), and calls each signature: floats, uint8 pixels, and two encoded images of *different* sizes
# in one batch (a PNG and a JPEG). It also sends an image above the export's `max_pixels`
# limit, which fails before the network runs (`InvalidArgument`, HTTP 400 over REST).

# %%
photo = as_float(data.chelsea())[60:188, 150:278]  # 128 x 128 crop of the cat
small = sr_degrade(photo, 4)  # 32 x 32: what a client would send
small_u8 = np.round(small * 255).astype("uint8")
(WORK / "cat.png").write_bytes(tf.io.encode_png(small_u8).numpy())
(WORK / "other.jpg").write_bytes(tf.io.encode_jpeg(small_u8[:24, :30]).numpy())
# A second export with a tiny per-image limit, in its own base path (a server would serve the
# highest version of a base path, so a test export does not belong next to the real one).
limited = export_for_serving(reloaded, WORK / "serving" / "sr4_limited", max_pixels=40 * 40)

server = textwrap.dedent(f"""
    import sys
    sys.modules["keras"] = sys.modules["keras_perceptual"] = None  # importing them now fails
    import tensorflow as tf

    model = tf.saved_model.load({version_dir!r})
    cat_png = open({str(WORK / "cat.png")!r}, "rb").read()
    other_jpg = open({str(WORK / "other.jpg")!r}, "rb").read()
    pixels = tf.io.decode_png(cat_png)[None]                    # uint8 (1, 32, 32, 3)

    out = model.signatures["serving_default"](images=tf.cast(pixels, tf.float32) / 255.0)
    print("serving_default:", out["images"].dtype.name, tuple(out["images"].shape))
    out = model.signatures["serve_uint8"](images=pixels)
    print("serve_uint8:    ", out["images"].dtype.name, tuple(out["images"].shape))
    out = model.signatures["serve_encoded"](image_bytes=tf.constant([cat_png, other_jpg]))
    sizes = [tuple(tf.io.decode_png(png).shape) for png in out["image_bytes"].numpy()]
    print("serve_encoded:  ", len(out["image_bytes"]), "PNG files of sizes", sizes)
    open("cat_x4.png", "wb").write(out["image_bytes"].numpy()[0])

    limited = tf.saved_model.load({limited!r})
    try:
        limited.signatures["serve_uint8"](images=tf.zeros((1, 64, 64, 3), tf.uint8))
    except tf.errors.InvalidArgumentError as error:
        reason = next(line for line in error.message.splitlines() if "max_pixels" in line)
        print("64x64 image to an export with max_pixels=1600:", type(error).__name__)
        print("   ", reason.split("[", 1)[1].split(". Send")[0].replace("\\'", "'"))
    print("keras or keras_perceptual loaded:",
          any(sys.modules.get(name) for name in ("keras", "keras_perceptual")))
""")
run = subprocess.run([sys.executable, "-c", server], cwd=WORK, capture_output=True, text=True,
                     env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
print(run.stdout)
if run.returncode:
    print(run.stderr[-3000:])
    raise RuntimeError("the server process failed")

# %% [thumbnail]
served_png = tf.io.decode_png((WORK / "cat_x4.png").read_bytes()).numpy()
bicubic = tf.image.resize(small[None], (128, 128), method="bicubic")[0].numpy().clip(0, 1)
fig, axes = plt.subplots(1, 4, figsize=(11, 3.2), layout="constrained")
for ax, image, title in zip(
    axes, (small, bicubic, served_png, photo),
    ("client sends 32x32 PNG", "bicubic x4", "served: serve_encoded x4", "original 128x128")):
    ax.imshow(image, interpolation="nearest")
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 4. TFLite
#
# `export_tflite` converts the same network for phones and embedded devices: builtin ops only,
# one signature `serving_default`, float32 or with weights quantized (`quantize="dynamic"`:
# int8 weights, about 4x smaller). With the default `input_size=None` the input is
# `(-1, -1, -1, 3)` and the signature runner resizes it to each image.

# %%
# TensorFlow 2.21 deprecates tf.lite.Interpreter for ai_edge_litert's (same API); quiet that.
warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
keras_output = reloaded.predict(small[None], verbose=0)[0]
for quantize in (None, "dynamic"):
    started = time.perf_counter()
    path = export_tflite(reloaded, WORK / f"sr4_{quantize or 'float32'}.tflite", quantize=quantize)
    seconds = time.perf_counter() - started
    runner = tf.lite.Interpreter(model_path=path).get_signature_runner()
    output = runner(images=small[None])["images"][0]
    print(f"{pathlib.Path(path).name:22} {os.path.getsize(path) / 1024:6.0f} KiB, converted in "
          f"{seconds:.0f} s; output {output.shape}, max |TFLite - Keras| = "
          f"{np.abs(output - keras_output).max():.1e}")

# %% [markdown]
# ## 5. The REST request a client sends
#
# With the base folder mounted into the official image (`docker run -p 8501:8501 --mount
# type=bind,source=$PWD/serving/sr4,target=/models/sr4 -e MODEL_NAME=sr4 tensorflow/serving`),
# a client POSTs JSON to `http://localhost:8501/v1/models/sr4:predict`. Binary inputs go
# base64-encoded as `{"b64": ...}`; because the output's name ends in `_bytes`, the server
# returns the PNGs the same way. Below, the request bodies, printed rather than sent (there is
# no server here), and the reply computed locally by the same signature.

# %%
png = (WORK / "cat.png").read_bytes()
request = {"signature_name": "serve_encoded", "instances": [{"b64": base64.b64encode(png).decode()}]}
body = json.dumps(request)
print(f"POST /v1/models/sr4:predict  ({len(body):,} bytes)")
print(body[:150] + " ... " + body[-40:])

request_uint8 = {"signature_name": "serve_uint8", "instances": [small_u8.tolist()]}
body_uint8 = json.dumps(request_uint8)
print(f"\nserve_uint8 request: nested 0-255 lists, {len(body_uint8):,} bytes for a 32x32 image:")
print(body_uint8[:120] + " ...")

reply_png = served.signatures["serve_encoded"](image_bytes=tf.constant([png]))["image_bytes"]
reply = {"predictions": [{"b64": base64.b64encode(reply_png.numpy()[0]).decode()}]}
print(f"\nreply (computed locally): {json.dumps(reply)[:100]} ... "
      f"a {tf.io.decode_png(reply_png[0]).shape} PNG")
print("\nthe same with curl:")
print("  curl -s -X POST -d @request.json http://localhost:8501/v1/models/sr4:predict")

# %% [markdown]
# Prefer `serve_encoded` for real images: a PNG or JPEG is far smaller than its pixels as JSON
# numbers (compare the two request sizes above). The README's *Deploy* section has the gRPC
# client and the command-line equivalent, `keras-perceptual export model.keras export/sr4
# --tflite`.
