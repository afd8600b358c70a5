"""TensorBoard summaries written without the ``tensorboard`` package.

The events are written with ``tf.summary.write`` (:class:`TensorBoardLogger`,
:class:`SampleImages`) rather than ``keras.callbacks.TensorBoard``: TensorFlow >= 2.20 no
longer installs the ``tensorboard`` package, without which ``tf.summary.scalar`` /
``image`` and Keras' callback fail. Viewing the logs needs ``pip install tensorboard``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def _summary_metadata(plugin: str, data_class: str):
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = plugin
    metadata.data_class = getattr(summary_pb2, data_class)
    return metadata


def summary_scalar(tag: str, value: float, step: int) -> None:
    """Writes a TensorBoard scalar to the default ``tf.summary`` writer.

    ``tf.summary.scalar`` needs the ``tensorboard`` package (TensorFlow >= 2.20 no
    longer installs it); this writes the same event with ``tf.summary.write``, which
    is part of TensorFlow, so logs are written whether or not TensorBoard is installed
    (viewing them needs ``pip install tensorboard``).

    Args:
        tag: the scalar's name, e.g. ``"loss"``.
        value: the value.
        step: the x coordinate (the global training step).

    Returns:
        None.

    Example:
        >>> with tf.summary.create_file_writer("logs").as_default():
        ...     summary_scalar("loss", 0.5, step=10)
    """
    tf.summary.write(
        tag,
        tf.constant(float(value), tf.float32),
        step=step,
        metadata=_summary_metadata("scalars", "DATA_CLASS_SCALAR"),
    )


def summary_image(tag: str, image: np.ndarray, step: int) -> None:
    """Writes one RGB image (``(H, W, 3)`` floats in [0, 1]) as a TensorBoard image summary.

    The event ``tf.summary.image`` writes (PNG-encoded), without needing the
    ``tensorboard`` package (see :func:`summary_scalar`).

    Args:
        tag: the image's name, e.g. ``"samples"``.
        image: ``(H, W, 3)`` float array in [0, 1].
        step: the global training step.

    Returns:
        None.

    Example:
        >>> with tf.summary.create_file_writer("logs").as_default():
        ...     summary_image("samples", np.zeros((8, 8, 3)), step=10)
    """
    pixels = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    png = tf.io.encode_png(pixels).numpy()
    height, width = pixels.shape[:2]
    tensor = tf.constant([str(width).encode(), str(height).encode(), png])
    tf.summary.write(
        tag, tensor, step=step, metadata=_summary_metadata("images", "DATA_CLASS_BLOB_SEQUENCE")
    )
