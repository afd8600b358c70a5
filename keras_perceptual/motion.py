"""Optical flow, warping and synthetic camera motion (``keras.ops`` only).

Temporal consistency is measured and trained against *known* motion: a still photo
seen by a camera that moves by a small affine motion (shift, zoom, rotation) gives
frames whose exact optical flow and occlusion mask are known in closed form, so no
optical-flow network or video data set is needed (the synthetic-motion idea of
Gupta et al., ICCV 2017, "Characterizing and Improving Stability in Neural Style
Transfer", and of the flow-based temporal losses of Ruder et al., GCPR 2016, and
Huang et al., CVPR 2017, with the flow taken from the motion instead of estimated).

Conventions (those of optical-flow data sets such as Middlebury and Sintel):

* A flow is a channels-last float tensor ``(..., height, width, 2)`` in pixels,
  channel 0 horizontal (``dx``, to the right) and channel 1 vertical (``dy``, down).
* Flows here are *backward* flows: ``flow`` at pixel ``p`` of the current frame points
  to where that point was in the previous frame, so
  ``current(p) = previous(p + flow(p))`` and :func:`warp` ``(previous, flow)``
  re-creates the current frame from the previous one.
* A mask is ``(..., height, width)`` float, 1 where the point was visible in the
  previous frame and 0 where it was occluded or outside the previous frame's view.
  Under a camera moving over a still photo nothing is occluded, so the mask is
  the part of the current frame the previous frame saw (:func:`visibility_mask`).
* Pixel centres lie at integer coordinates ``x = 0 .. width - 1``, ``y = 0 .. height - 1``.

A camera motion (:func:`camera_motion_matrix`) maps a point ``p`` of the previous
frame to ``p' = c + zoom * R(rotation) (p - c) + shift`` in the current one, with ``c``
the frame's centre and ``R`` a rotation by ``rotation`` degrees (clockwise on screen,
since ``y`` points down): the content appears ``zoom`` times larger, rotated and moved
by ``shift`` pixels.

Example:
    >>> photo = np.random.default_rng(0).random((96, 96, 3), dtype="float32")
    >>> first, second, flow, mask = camera_motion_pair(photo, size=64, shift=(2.0, -1.0))
    >>> error = (warp(first, flow) - second) ** 2 * mask[..., None]  # ~0 where mask == 1
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_perceptual._checks import (
    check_choice,
    check_finite_float,
    check_positive_int,
    check_same_shape,
    check_seed,
    check_value_range,
    check_weight,
    checked_at_run_time,
)
from keras_perceptual.errors import InputError
from keras_perceptual.images import image_array
from keras_perceptual.layers import ConfigFieldsMixin
from keras_perceptual.ops import keep_nan

#: Random perturbations for training (:class:`RandomCameraMotion` ``preset=``): each maps to
#: the maximum shift (pixels), zoom (fraction), rotation (degrees) and the standard
#: deviation of the added Gaussian noise (fraction of the value range).
#:
#: * ``"stability"``: Gupta et al. (2017): Gaussian noise and a sub-pixel shift / zoom,
#:   the perturbations under which a stable network's output changes only as its input does.
#: * ``"camera"``: the flow-based temporal loss of Ruder et al. (2016) / Huang et al.
#:   (2017) on synthetic camera motion: a few pixels of shift, zoom and rotation between
#:   two "frames", with the frame border that came into view masked out.
MOTION_PRESETS: dict[str, dict[str, float]] = {
    "stability": {"max_shift": 1.0, "max_zoom": 0.01, "max_rotation": 0.5, "noise_stddev": 0.02},
    "camera": {"max_shift": 6.0, "max_zoom": 0.04, "max_rotation": 2.0, "noise_stddev": 0.0},
}


# --------------------------------------------------------------------------
# Checks.
# --------------------------------------------------------------------------


def _float_tensor(value: Any, name: str, expected: str):
    """``value`` as a tensor, cast to float32 unless already floating; a non-numeric value
    (None, a string, a dict, a ragged list) is an InputError, not the backend's error."""
    tensor = None
    if value is not None and not isinstance(value, (str, bytes, dict)):
        try:
            tensor = ops.convert_to_tensor(value)
        except (TypeError, ValueError):
            tensor = None
    dtype = str(getattr(tensor, "dtype", ""))
    if tensor is None or not any(kind in dtype for kind in ("float", "int", "bool")):
        raise InputError(
            f"{name} must be a numeric array or tensor: {expected}. Received: {name}={value!r:.80}"
        )
    return tensor if "float" in dtype else ops.cast(tensor, "float32")


def _check_flow(flow, name: str = "flow"):
    flow = _float_tensor(flow, name, "a flow field (height, width, 2) in pixels")
    shape = tuple(flow.shape)
    if len(shape) < 3 or shape[-1] != 2:
        raise InputError(
            f"{name} must be a channels-last flow field (height, width, 2) or (batch, height, "
            f"width, 2) in pixels, (dx, dy) per pixel. Received: {name}.shape={shape}"
        )
    return flow


def _pair(value: Any, name: str) -> tuple[float, float]:
    try:
        first, second = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(
            f"{name} must be a pair (dx, dy) of numbers in pixels, e.g. (2.0, -1.0). "
            f"Received: {name}={value!r}"
        ) from None
    if not (math.isfinite(first) and math.isfinite(second)):
        raise InputError(f"{name} must hold finite numbers. Received: {name}={value!r}")
    return first, second


def _check_zoom(zoom: Any, name: str = "zoom") -> float:
    # Not check_weight: its "use 0 to switch the term off" is wrong for a scale factor.
    value = check_finite_float(zoom, name, "a scale factor, 1 is none")
    if value <= 0:
        raise InputError(
            f"{name} must be a scale factor > 0 (1.0 is no zoom, 1.05 zooms in by 5%). "
            f"Received: {name}={zoom!r}"
        )
    return value


def _size(size: Any, name: str = "size") -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        side = check_positive_int(size, name)
        return side, side
    try:
        height, width = size
    except (TypeError, ValueError):
        raise InputError(
            f"{name} must be an integer side or a pair (height, width). Received: {name}={size!r}"
        ) from None
    return check_positive_int(height, f"{name}[0]"), check_positive_int(width, f"{name}[1]")


# --------------------------------------------------------------------------
# Sampling and warping.
# --------------------------------------------------------------------------


def _frame_side(value: Any, name: str):
    """A frame height or width: a positive int, or a scalar integer tensor (a traced
    shape) passed on as it is. Before: -1 was the backend's range error, 2.5 gave a flow of
    3 rows and None a dtype error."""
    if value is None or isinstance(value, (bool, int, float, str, bytes, np.number)):
        return check_positive_int(value, name)
    return value


def _pixel_grid(height, width, dtype="float32"):
    """``(height, width, 2)`` pixel-centre coordinates ``(x, y)``."""
    ys, xs = ops.meshgrid(
        ops.cast(ops.arange(height), dtype), ops.cast(ops.arange(width), dtype), indexing="ij"
    )
    return ops.stack([xs, ys], axis=-1)


def _check_batches(images, coordinates) -> tuple:
    """A batch of images takes a batch of coordinates of its size; one image takes any."""
    message = (
        "coordinates must have the images' batch size (one grid of points per image), or the "
        "images a batch size of 1 (sampled at every grid); repeat the image or split the "
        "coordinates. "
    )
    images_batch, points_batch = images.shape[0], coordinates.shape[0]
    if None not in (images_batch, points_batch) and images_batch not in (1, points_batch):
        raise InputError(
            f"{message}Received: images.shape={tuple(images.shape)}, "
            f"coordinates.shape={tuple(coordinates.shape)}"
        )
    if None not in (images_batch, points_batch):
        return images, coordinates
    return checked_at_run_time(
        (images, coordinates),
        lambda i, c: ops.logical_or(ops.equal(i[0], 1), ops.equal(i[0], c[0])),
        f"{message}Received: images.shape, coordinates.shape=",
    )


def resample(images, coordinates):
    """Samples images bilinearly at given pixel coordinates.

    ``output[b, i, j] = images[b]`` at the point ``coordinates[b, i, j] = (x, y)``,
    interpolated bilinearly from the four nearest pixels; points outside the image take
    the value at the nearest border point (clamped coordinates, ``mode="nearest"`` in
    ``scipy.ndimage.map_coordinates`` terms). Differentiable in both arguments (the
    gradient with respect to the coordinates is zero where they are clamped).

    Non-finite coordinates are not an error: a point with a NaN coordinate gives NaN in
    every channel of its output pixel (and only there; the gradient stays finite
    elsewhere), the same on every backend; ``+inf``/``-inf`` is a point infinitely far
    outside the image and takes the border value like any other outside point.

    Args:
        images: ``(batch, H, W, C)`` or ``(H, W, C)`` float tensor; a batch of one is
            sampled at every batch entry of ``coordinates``.
        coordinates: ``(batch, h, w, 2)`` (or ``(h, w, 2)`` with an unbatched image) of
            ``(x, y)`` pixel coordinates, any real values (inside the image: ``0 <= x <=
            W - 1``, ``0 <= y <= H - 1``); the output has size ``h x w``.

    Returns:
        ``(batch, h, w, C)`` (or ``(h, w, C)``) tensor of the images' dtype, NaN at the
        points whose coordinates hold a NaN.

    Raises:
        InputError: the ranks or the last axis of ``coordinates`` do not fit, or a batch of
            images of another size than the coordinates' (checked when the graph runs where
            sizes are ``None`` when traced).

    Example:
        >>> image = np.arange(12, dtype="float32").reshape(1, 3, 4, 1)
        >>> float(resample(image, np.array([[[[1.5, 1.0]]]], "float32"))[0, 0, 0, 0])
        5.5
    """
    images = _float_tensor(images, "images", "(batch, H, W, C) or (H, W, C) images")
    coordinates = _check_flow(coordinates, "coordinates")
    squeeze = len(images.shape) == 3
    if squeeze:
        images = images[None]
        coordinates = coordinates[None] if len(coordinates.shape) == 3 else coordinates
    if len(images.shape) != 4 or len(coordinates.shape) != 4:
        raise InputError(
            "resample needs images (batch, H, W, C) and coordinates (batch, h, w, 2), or an "
            f"image (H, W, C) and coordinates (h, w, 2). Received: images.shape="
            f"{tuple(images.shape)}, coordinates.shape={tuple(coordinates.shape)}"
        )
    if 0 in tuple(images.shape[1:3]):
        raise InputError(
            "resample needs images with pixels to sample from; drop the empty images. "
            f"Received: images.shape={tuple(images.shape)}"
        )
    images, coordinates = _check_batches(images, coordinates)
    coordinates = ops.cast(coordinates, images.dtype)
    # A NaN coordinate has no integer pixel (TensorFlow's gather fails on the cast's
    # garbage index): sample at 0 there, and give those points NaN at the end.
    marks = coordinates
    coordinates = ops.where(ops.isnan(coordinates), ops.zeros_like(coordinates), coordinates)
    shape = ops.shape(images)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    out_shape = ops.shape(coordinates)
    w_max = ops.cast(width - 1, images.dtype)
    h_max = ops.cast(height - 1, images.dtype)
    x = ops.clip(coordinates[..., 0], 0.0, w_max)
    y = ops.clip(coordinates[..., 1], 0.0, h_max)
    x0 = ops.floor(x)
    y0 = ops.floor(y)
    wx = (x - x0)[..., None]
    wy = (y - y0)[..., None]
    x0i = ops.cast(x0, "int32")
    y0i = ops.cast(y0, "int32")
    x1i = ops.minimum(x0i + 1, ops.cast(width - 1, "int32"))
    y1i = ops.minimum(y0i + 1, ops.cast(height - 1, "int32"))
    flat = ops.reshape(images, (-1, channels))
    if images.shape[0] == 1:  # one image, sampled for every entry of the coordinates
        base = ops.zeros((1, 1, 1), "int32")
    else:
        base = ops.reshape(ops.arange(batch, dtype="int32") * (height * width), (-1, 1, 1))

    def gather(yi, xi):
        index = ops.reshape(base + yi * width + xi, (-1,))
        return ops.reshape(
            ops.take(flat, index, axis=0), (out_shape[0], out_shape[1], out_shape[2], channels)
        )

    top = gather(y0i, x0i) * (1.0 - wx) + gather(y0i, x1i) * wx
    bottom = gather(y1i, x0i) * (1.0 - wx) + gather(y1i, x1i) * wx
    output = keep_nan(top * (1.0 - wy) + bottom * wy, marks[..., :1], marks[..., 1:])
    return output[0] if squeeze else output


def warp(images, flow):
    """Warps images by a backward optical flow: ``output(p) = images(p + flow(p))``.

    Bilinear sampling (:func:`resample`) at ``p + flow(p)``; points outside the image
    take the nearest border value (use :func:`visibility_mask` to leave them out), an
    infinite flow (``+inf``/``-inf``) included, and a pixel whose flow holds a NaN comes
    out NaN in every channel (only that pixel; the same on every backend). With
    ``images`` the previous frame and ``flow`` the backward flow of the current frame,
    the result is the previous frame moved onto the current one, the warping of the
    temporal losses of Ruder et al. (2016, Eq. 6) and Huang et al. (2017, Eq. 4).

    Args:
        images: ``(batch, H, W, C)`` or ``(H, W, C)`` float tensor.
        flow: ``(batch, H, W, 2)`` or ``(H, W, 2)`` backward flow in pixels ``(dx, dy)``, any
            real values (NaN marks an unknown flow); a single ``(H, W, 2)`` flow is applied
            to every image of a batch.

    Returns:
        A tensor shaped like ``images``, NaN at the pixels whose flow holds a NaN.

    Raises:
        InputError: the flow is not ``(..., H, W, 2)``, its height and width are not the
            images', or a batched flow's batch size is not theirs (checked when the graph
            runs where sizes are ``None`` when traced).

    Example:
        >>> image = np.random.rand(1, 8, 8, 3).astype("float32")
        >>> flow = np.zeros((1, 8, 8, 2), "float32"); flow[..., 0] = 1.0  # one pixel to the left
        >>> np.allclose(warp(image, flow)[:, :, :-1], image[:, :, 1:])
        True
    """
    images = _float_tensor(images, "images", "(batch, H, W, C) or (H, W, C) images")
    flow = ops.cast(_check_flow(flow), images.dtype)
    if len(flow.shape) > len(images.shape):
        raise InputError(
            "flow must be (H, W, 2), or (batch, H, W, 2) for a batch of images; an (H, W, C) "
            f"image takes one (H, W, 2) flow. Received: images.shape={tuple(images.shape)}, "
            f"flow.shape={tuple(flow.shape)}"
        )
    # (H, W, 2): one flow for every image; (batch, H, W, 2): one per image, same batch.
    batched = len(flow.shape) == len(images.shape) == 4
    images, flow = check_same_shape(
        images,
        flow,
        "flow must have the images' height and width, and their batch size when it has one "
        "(one (dx, dy) per pixel of each image); resize the flow (and scale its values) to the "
        "images' size, or pass one (H, W, 2) flow for every image. ",
        names=("images", "flow"),
        axes=(slice(0, -1), slice(0, -1)) if batched else (slice(-3, -1), slice(-3, -1)),
    )
    shape = ops.shape(images)
    grid = _pixel_grid(shape[-3], shape[-2], images.dtype)
    coordinates = grid + flow
    if len(images.shape) == 4 and len(coordinates.shape) == 3:
        coordinates = ops.broadcast_to(coordinates[None], (shape[0], shape[1], shape[2], 2))
    return resample(images, coordinates)


def visibility_mask(flow, margin: float = 0.0):
    """1 where ``p + flow(p)`` lies inside the previous frame, else 0.

    For a camera moving over a still scene this is the occlusion mask of the
    temporal losses (Ruder et al. 2016, Huang et al. 2017): the pixels of the current
    frame that the previous frame saw. An infinite flow (``+inf``/``-inf``) points
    outside the frame (0); a NaN flow gives NaN at its pixel (unknown, not "unseen").

    Args:
        flow: ``(..., H, W, 2)`` backward flow in pixels, any real values.
        margin: pixels of the previous frame's border also counted as unseen (e.g. the
            border where a network's padding differs from the true content); >= 0.

    Returns:
        ``(..., H, W)`` float32 mask of 0s and 1s (NaN where the flow holds a NaN).

    Raises:
        InputError: the flow is not ``(..., H, W, 2)`` or ``margin`` is negative.

    Example:
        >>> flow = np.full((4, 4, 2), 1.0, "float32")
        >>> np.asarray(visibility_mask(flow))[:, -1].tolist()  # the last column came into view
        [0.0, 0.0, 0.0, 0.0]
    """
    flow = ops.cast(_check_flow(flow), "float32")
    margin = check_weight(margin, "margin")
    shape = ops.shape(flow)
    height, width = shape[-3], shape[-2]
    target = _pixel_grid(height, width) + flow
    x, y = target[..., 0], target[..., 1]
    eps = 1e-4
    w_max = ops.cast(width - 1, "float32") - margin + eps
    h_max = ops.cast(height - 1, "float32") - margin + eps
    low = margin - eps
    inside = (x >= low) & (x <= w_max) & (y >= low) & (y <= h_max)
    return keep_nan(ops.cast(inside, "float32"), x, y)


# --------------------------------------------------------------------------
# Affine camera motion.
# --------------------------------------------------------------------------


def camera_motion_matrix(height, width, shift=(0.0, 0.0), zoom=1.0, rotation=0.0):
    """The 3x3 matrix of a camera motion, previous-frame pixels to current-frame pixels.

    ``p' = c + zoom * R(rotation) (p - c) + shift`` in homogeneous coordinates
    ``(x, y, 1)``, with ``c = ((width - 1) / 2, (height - 1) / 2)`` the frame's centre.

    Args:
        height, width: frame size in pixels.
        shift: ``(dx, dy)`` pixels; each a number or a ``(batch,)`` tensor.
        zoom: scale factor (1 = none, > 1 zooms in); a number or a ``(batch,)`` tensor.
        rotation: degrees; a number or a ``(batch,)`` tensor.

    Returns:
        ``(3, 3)`` float32 tensor, or ``(batch, 3, 3)`` when any argument is batched.

    Raises:
        InputError: ``shift`` is not a pair, or an argument is not numeric (None, a string).

    Example:
        >>> camera_motion_matrix(64, 64, shift=(2.0, 0.0))[0, 2]  # a pure shift
        2.0
    """
    try:
        dx, dy = shift
    except (TypeError, ValueError):
        raise InputError(
            "shift must be a pair (dx, dy) in pixels, each a number or a (batch,) tensor, "
            f"e.g. (2.0, -1.0). Received: shift={shift!r:.80}"
        ) from None
    dx = ops.cast(_float_tensor(dx, "shift[0]", "pixels"), "float32")
    dy = ops.cast(_float_tensor(dy, "shift[1]", "pixels"), "float32")
    zoom = ops.cast(_float_tensor(zoom, "zoom", "a scale factor, 1 is none"), "float32")
    theta = ops.cast(_float_tensor(rotation, "rotation", "degrees"), "float32") * (math.pi / 180.0)
    height, width = (
        _float_tensor(value, name, f"the frame {name} in pixels, one number")
        for value, name in ((height, "height"), (width, "width"))
    )
    if len(height.shape) or len(width.shape):
        raise InputError(
            "height and width must be single numbers (the frame size in pixels), not arrays. "
            f"Received: height={height!r:.60}, width={width!r:.60}"
        )
    dx, dy, zoom, theta = (
        ops.broadcast_to(v, ops.shape(dx + dy + zoom + theta)) for v in (dx, dy, zoom, theta)
    )
    cx = (ops.cast(width, "float32") - 1.0) / 2.0
    cy = (ops.cast(height, "float32") - 1.0) / 2.0
    a = zoom * ops.cos(theta)
    b = zoom * ops.sin(theta)
    zeros, ones = ops.zeros_like(a), ops.ones_like(a)
    # x' = a (x - cx) - b (y - cy) + cx + dx ; y' = b (x - cx) + a (y - cy) + cy + dy
    row0 = ops.stack([a, -b, cx - a * cx + b * cy + dx], axis=-1)
    row1 = ops.stack([b, a, cy - b * cx - a * cy + dy], axis=-1)
    row2 = ops.stack([zeros, zeros, ones], axis=-1)
    return ops.stack([row0, row1, row2], axis=-2)


def affine_flow(matrix, height: int, width: int):
    """The backward flow of an affine motion given as previous-to-current matrix.

    ``flow(p) = M^{-1} p - p``: where the point now at ``p`` was in the previous frame.

    Args:
        matrix: ``(3, 3)`` or ``(batch, 3, 3)`` (e.g. :func:`camera_motion_matrix`),
            previous-frame pixels to current-frame pixels.
        height, width: frame size in pixels, integers >= 1.

    Returns:
        ``(height, width, 2)`` or ``(batch, height, width, 2)`` float32 flow.

    Raises:
        InputError: ``matrix`` is not ``(3, 3)`` or ``(batch, 3, 3)``, or ``height`` or
            ``width`` is not an integer >= 1.

    Example:
        >>> flow = affine_flow(camera_motion_matrix(8, 8, shift=(1.0, 0.0)), 8, 8)
        >>> float(flow[0, 0, 0])  # the content moved right: it was one pixel to the left
        -1.0
    """
    matrix = ops.cast(_float_tensor(matrix, "matrix", "(3, 3) or (batch, 3, 3)"), "float32")
    height, width = _frame_side(height, "height"), _frame_side(width, "width")
    if tuple(matrix.shape[-2:]) != (3, 3):
        raise InputError(
            "matrix must be a (3, 3) or (batch, 3, 3) affine matrix, e.g. from "
            f"camera_motion_matrix. Received: matrix.shape={tuple(matrix.shape)}"
        )
    inverse = _affine_inverse(matrix)
    grid = _pixel_grid(height, width)  # (H, W, 2)
    linear = inverse[..., :2, :2]
    offset = inverse[..., :2, 2]
    if len(matrix.shape) == 3:
        source = ops.einsum("bij,hwj->bhwi", linear, grid) + offset[:, None, None, :]
    else:
        source = ops.einsum("ij,hwj->hwi", linear, grid) + offset
    return source - grid


def _affine_inverse(matrix):
    """Inverse of affine 3x3 matrices (last row 0 0 1), written out (any backend, any batch)."""
    a, b, c = matrix[..., 0, 0], matrix[..., 0, 1], matrix[..., 0, 2]
    d, e, f = matrix[..., 1, 0], matrix[..., 1, 1], matrix[..., 1, 2]
    det = a * e - b * d
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    ic = -(ia * c + ib * f)
    if_ = -(id_ * c + ie * f)
    zeros, ones = ops.zeros_like(a), ops.ones_like(a)
    return ops.stack(
        [ops.stack([ia, ib, ic], -1), ops.stack([id_, ie, if_], -1), ops.stack([zeros, zeros, ones], -1)],
        axis=-2,
    )


def _photo_and_size(photo: Any, size: Any, value_range) -> tuple[Any, tuple[int, int]]:
    """The photo argument (a path, an array or a tensor) as a float32 tensor (H, W, 3),
    and the frame size, checked to fit inside it."""
    photo = image_array(photo, value_range, name="photo")
    size = photo.shape[:2] if size is None else _size(size)
    if size[0] > photo.shape[0] or size[1] > photo.shape[1]:
        raise InputError(
            f"photo is {photo.shape[0]}x{photo.shape[1]} pixels, smaller than the frames; pass a "
            f"photo at least size={tuple(size)} (height, width) or a smaller size. Received: "
            f"photo.shape={photo.shape}"
        )
    return ops.convert_to_tensor(photo), (int(size[0]), int(size[1]))


def _views(photo, size, matrices):
    """The frames a camera sees when its view is the central ``size`` crop of ``photo``
    moved by each of ``matrices`` ``(T, 3, 3)`` (first-frame pixels to that frame's)."""
    height, width = size
    photo_h, photo_w = int(photo.shape[0]), int(photo.shape[1])
    top, left = (photo_h - height) // 2, (photo_w - width) // 2
    first = affine_flow(matrices, height, width) + _pixel_grid(height, width)
    offset = ops.convert_to_tensor(np.array([left, top], "float32"))
    return resample(photo[None], first + offset)


def camera_motion_pair(
    photo: Any,
    size: int | Sequence[int] | None = None,
    shift: Sequence[float] = (2.0, 1.0),
    zoom: float = 1.0,
    rotation: float = 0.0,
    margin: float = 0.0,
    value_range: Sequence[float] = (0.0, 1.0),
):
    """Two frames of a camera moving over a still photo, their exact flow and mask.

    The first frame is the central ``size`` crop of ``photo`` (exact pixels); the second
    is what the camera sees after the motion of :func:`camera_motion_matrix` (content
    moved by ``shift``, zoomed by ``zoom``, rotated by ``rotation`` degrees), sampled
    bilinearly from the photo, so the part that came into view holds the photo's real
    content when the photo is larger than ``size``. Then, exactly up to float rounding,
    ``warp(first, flow) == second`` wherever ``mask == 1``.

    Args:
        photo: ``(H, W, 3)`` float image in ``value_range`` or an image file, at least ``size``.
        size: ``(height, width)`` of the frames or one side; ``None``: the photo's size.
        shift: ``(dx, dy)`` content motion in pixels.
        zoom: content scale factor (1.02 zooms in by 2%).
        rotation: content rotation in degrees.
        margin: border pixels of the first frame also masked (see :func:`visibility_mask`).
        value_range: ``(low, high)`` of the photo (and the frames).

    Returns:
        ``(first, second, flow, mask)``: frames ``(h, w, 3)``, the second frame's backward
        flow ``(h, w, 2)`` and its visibility mask ``(h, w)``.

    Raises:
        InputError: the photo is smaller than ``size`` or not a float RGB image in
            ``value_range`` (see :func:`keras_perceptual.images.image_array`), or ``shift``,
            ``zoom``, ``rotation`` or ``margin`` is not a finite number (a pair for ``shift``).

    Example:
        >>> photo = np.random.rand(80, 80, 3).astype("float32")
        >>> first, second, flow, mask = camera_motion_pair(photo, 64, shift=(1.5, 0.0), zoom=1.02)
    """
    photo, size = _photo_and_size(photo, size, value_range)
    shift = _pair(shift, "shift")
    zoom = _check_zoom(zoom)
    rotation = check_finite_float(rotation, "rotation", "degrees")
    matrix = camera_motion_matrix(size[0], size[1], shift, zoom, rotation)
    first, second = _views(photo, size, ops.stack([ops.eye(3), matrix]))
    flow = affine_flow(matrix, size[0], size[1])
    return first, second, flow, visibility_mask(flow, margin)


def camera_path(
    num_frames: int,
    shift: Sequence[float] = (12.0, 6.0),
    zoom: float = 0.06,
    rotation: float = 3.0,
) -> np.ndarray:
    """A smooth camera path: per frame, the content's shift, zoom and rotation.

    With ``s = t / (num_frames - 1)`` from 0 to 1: ``dx = shift[0] * sin(2 pi s)``,
    ``dy = shift[1] * sin(pi s)``, ``zoom = 1 + zoom * sin(pi s)`` (in, then back out),
    ``rotation = rotation * sin(2 pi s)`` degrees, each relative to the first frame; the
    motion between neighbouring frames is at most about ``2 pi shift / num_frames`` pixels.

    Args:
        num_frames: frames on the path (at least 2).
        shift: largest ``(dx, dy)`` in pixels.
        zoom: largest zoom, as a fraction (0.06: 6%; negative zooms out), > -1.
        rotation: largest rotation in degrees.

    Returns:
        ``(num_frames, 4)`` float64 array of ``(dx, dy, zoom, rotation)``.

    Raises:
        InputError: ``num_frames`` is not an integer >= 2, or ``shift``, ``zoom`` or
            ``rotation`` is not finite (a pair for ``shift``), or ``zoom <= -1``.

    Example:
        >>> camera_path(48)[0].tolist()
        [0.0, 0.0, 1.0, 0.0]
    """
    num_frames = check_positive_int(num_frames, "num_frames", minimum=2)
    shift = _pair(shift, "shift")
    zoom = check_finite_float(zoom, "zoom", "a fraction, 0.06 for 6%")
    if zoom <= -1:
        # Before: accepted, and the path's zoom 1 + zoom * sin(pi s) reached 0 or less
        # (a camera seeing nothing), refused only later by camera_clip.
        raise InputError(
            "zoom must be > -1: the path zooms to 1 + zoom at its middle, which must stay a "
            f"scale > 0 (-0.05 zooms out by 5%). Received: zoom={zoom!r}"
        )
    rotation = check_finite_float(rotation, "rotation", "degrees")
    s = np.linspace(0.0, 1.0, num_frames)
    return np.stack(
        [
            shift[0] * np.sin(2 * np.pi * s),
            shift[1] * np.sin(np.pi * s),
            1.0 + zoom * np.sin(np.pi * s),
            rotation * np.sin(2 * np.pi * s),
        ],
        axis=-1,
    )


def camera_clip(
    photo: Any,
    size: int | Sequence[int] | None = None,
    path: Any = 48,
    margin: float = 0.0,
    value_range: Sequence[float] = (0.0, 1.0),
):
    """A synthetic video: a camera moving over a still photo, with exact flows and masks.

    Frame ``t`` is what the camera sees under the motion ``path[t]`` (relative to the
    first frame, the central ``size`` crop of the photo), sampled bilinearly from the
    photo. ``flows[t - 1]`` is frame ``t``'s backward flow to frame ``t - 1`` (the
    composition of both motions, exact) and ``masks[t - 1]`` its visibility mask: the
    inputs :func:`~keras_perceptual.metrics.temporal_warping_error` takes.

    Args:
        photo: ``(H, W, 3)`` float image in ``value_range`` or an image file, at least
            ``size`` (larger gives real content at the borders that come into view).
        size: ``(height, width)`` of the frames or one side; ``None``: the photo's size.
        path: ``(T, 4)`` rows ``(dx, dy, zoom, rotation)`` (:func:`camera_path`), or a
            frame count for ``camera_path(count)``.
        margin: border pixels also masked (see :func:`visibility_mask`).
        value_range: ``(low, high)`` of the photo (and the frames).

    Returns:
        ``(frames, flows, masks)``: ``(T, h, w, 3)``, ``(T - 1, h, w, 2)``, ``(T - 1, h, w)``.

    Raises:
        InputError: bad ``path`` or a photo smaller than ``size``.

    Example:
        >>> photo = np.random.rand(96, 96, 3).astype("float32")
        >>> frames, flows, masks = camera_clip(photo, 64, camera_path(8, shift=(4, 2)))
        >>> tuple(frames.shape), tuple(flows.shape)
        ((8, 64, 64, 3), (7, 64, 64, 2))
    """
    photo, size = _photo_and_size(photo, size, value_range)
    if isinstance(path, (int, np.integer)) and not isinstance(path, bool):
        path = camera_path(int(path))
    try:
        path = np.asarray(path, dtype=np.float64)
    except (TypeError, ValueError):
        path = np.zeros((0,))  # not numbers: refused below with the shape rule
    if path.ndim != 2 or path.shape[1] != 4 or path.shape[0] < 2 or not np.all(np.isfinite(path)):
        raise InputError(
            "path must be a frame count >= 2 or a (frames, 4) array of finite rows (dx, dy, zoom, "
            f"rotation), e.g. camera_path(48). Received: path.shape={path.shape}"
        )
    if np.any(path[:, 2] <= 0):
        raise InputError("path zooms must be > 0 (1 is no zoom). Received: path[:, 2] <= 0")
    matrices = camera_motion_matrix(size[0], size[1], (path[:, 0], path[:, 1]), path[:, 2], path[:, 3])
    frames = _views(photo, size, matrices)
    # Frame t -> frame t - 1: M_{t-1} M_t^{-1}; affine_flow takes previous-to-current, M_t M_{t-1}^{-1}.
    steps = ops.matmul(matrices[1:], _affine_inverse(matrices[:-1]))
    flows = affine_flow(steps, size[0], size[1])
    return frames, flows, visibility_mask(flows, margin)


# --------------------------------------------------------------------------
# Random motion for training.
# --------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="keras_perceptual")
class RandomCameraMotion(ConfigFieldsMixin, keras.layers.Layer):
    """Moves each image by a random small camera motion, adds noise; returns the flow.

    Per image: a shift uniform in ``[-max_shift, max_shift]`` pixels on each axis, a
    zoom ``exp(u)`` with ``u`` uniform in ``[-log(1 + max_zoom), log(1 + max_zoom)]``, a
    rotation uniform in ``[-max_rotation, max_rotation]`` degrees
    (:func:`camera_motion_matrix`), applied with :func:`warp`; then Gaussian noise of
    standard deviation ``noise_stddev * (high - low)``, and the result is clipped to
    ``value_range``. The perturbations of Gupta et al. (2017) (``preset="stability"``:
    noise and sub-pixel motion) or a synthetic camera motion for the flow-based temporal
    loss of Ruder et al. (2016) / Huang et al. (2017) (``preset="camera"``). Random in
    training and inference alike (it makes training pairs, it is not an augmentation).

    Args:
        max_shift: largest shift in pixels.
        max_zoom: largest zoom as a fraction (0.04: up to 4% in or out).
        max_rotation: largest rotation in degrees.
        noise_stddev: standard deviation of the added noise, as a fraction of the value range.
        value_range: ``(low, high)`` of the images.
        seed: seed of the random draws (``None``: unseeded).
        preset: a key of :data:`MOTION_PRESETS` giving the defaults of the four amounts
            above (explicit arguments override it); ``None``: ``"camera"``'s.
        **kwargs: ``keras.layers.Layer`` arguments (``name``, ``dtype``).

    Call arguments:
        images: ``(batch, H, W, 3)`` float tensor in ``value_range``.

    Returns:
        ``(moved, flow, mask)``: the moved images ``(batch, H, W, 3)``, their backward flow
        to the input ``(batch, H, W, 2)`` and visibility mask ``(batch, H, W)``, so that
        ``warp(images, flow)`` equals ``moved`` (before noise) where ``mask == 1``.

    Example:
        >>> layer = RandomCameraMotion(preset="stability", seed=1)
        >>> moved, flow, mask = layer(np.random.rand(2, 32, 32, 3).astype("float32"))
    """

    def __init__(
        self,
        max_shift: float | None = None,
        max_zoom: float | None = None,
        max_rotation: float | None = None,
        noise_stddev: float | None = None,
        value_range: Sequence[float] = (0.0, 1.0),
        seed: int | None = None,
        preset: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if preset is not None:
            check_choice(preset, tuple(MOTION_PRESETS), "preset")
        if seed is not None:
            seed = check_seed(seed)
        self.preset = preset
        defaults = MOTION_PRESETS[preset or "camera"]
        given = {
            "max_shift": max_shift,
            "max_zoom": max_zoom,
            "max_rotation": max_rotation,
            "noise_stddev": noise_stddev,
        }
        for key, value in given.items():
            setattr(self, key, check_weight(defaults[key] if value is None else value, key))
        self.value_range = check_value_range(value_range)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images):
        images = _float_tensor(images, "images", "a (batch, H, W, 3) batch")
        if len(images.shape) != 4:
            raise InputError(
                "RandomCameraMotion takes a batch of images (batch, height, width, channels); "
                f"add the batch axis with images[None]. Received: images.shape={tuple(images.shape)}"
            )
        shape = ops.shape(images)
        batch, height, width = shape[0], shape[1], shape[2]

        def uniform(limit):
            return keras.random.uniform(
                (batch,), -limit, limit, dtype="float32", seed=self.seed_generator
            )

        log_zoom = math.log1p(self.max_zoom)
        matrix = camera_motion_matrix(
            height,
            width,
            shift=(uniform(self.max_shift), uniform(self.max_shift)),
            zoom=ops.exp(uniform(log_zoom)),
            rotation=uniform(self.max_rotation),
        )
        flow = affine_flow(matrix, height, width)
        moved = warp(images, ops.cast(flow, images.dtype))
        low, high = self.value_range
        if self.noise_stddev > 0:
            noise = keras.random.normal(
                shape, stddev=self.noise_stddev * (high - low), dtype=moved.dtype,
                seed=self.seed_generator,
            )
            moved = ops.clip(moved + noise, low, high)
        return moved, flow, visibility_mask(flow)

    def compute_output_shape(self, input_shape):
        batch, height, width = input_shape[0], input_shape[1], input_shape[2]
        return input_shape, (batch, height, width, 2), (batch, height, width)

    CONFIG_FIELDS = (
        "max_shift", "max_zoom", "max_rotation", "noise_stddev", "value_range", "seed", "preset",
    )  # fmt: skip


__all__ = [
    "MOTION_PRESETS",
    "RandomCameraMotion",
    "affine_flow",
    "camera_clip",
    "camera_motion_matrix",
    "camera_motion_pair",
    "camera_path",
    "resample",
    "visibility_mask",
    "warp",
]
