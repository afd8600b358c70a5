"""TensorBoard event files, on any backend, with or without the ``tensorboard`` package.

:func:`summary_writer` gives the callbacks (:class:`TensorBoardLogger`,
:class:`SampleImages`) a :class:`SummaryWriter` for a folder:

* on the TensorFlow backend, events are written with ``tf.summary.write``
  (:func:`summary_scalar`, :func:`summary_image`) rather than
  ``keras.callbacks.TensorBoard``: TensorFlow >= 2.20 no longer installs the
  ``tensorboard`` package, without which ``tf.summary.scalar`` / ``image`` and Keras'
  callback fail;
* on other backends (JAX, where TensorFlow may not be installed at all), with the
  ``tensorboard`` package's own event writer when it is installed;
* otherwise nothing is written (``summary_writer`` returns ``None``).

The same events either way: scalars and PNG-encoded images, readable by TensorBoard
(``pip install tensorboard`` to view them).
"""

from __future__ import annotations

import abc
import io
import os
import time

import keras
import numpy as np


class SummaryWriter(abc.ABC):
    """Writes scalars and images to one TensorBoard event folder.

    Args:
        log_dir: the folder (created).
    """

    def __init__(self, log_dir: str):
        self.log_dir = log_dir

    @abc.abstractmethod
    def scalar(self, tag: str, value: float, step: int) -> None:
        """One scalar at ``step``."""

    @abc.abstractmethod
    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """One ``(H, W, 3)`` image in [0, 1] at ``step``."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Makes the events written so far visible."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flushes and releases the file."""


class TensorFlowSummaryWriter(SummaryWriter):
    """Events through ``tf.summary`` (no ``tensorboard`` package needed)."""

    def __init__(self, log_dir: str):
        super().__init__(log_dir)
        import tensorflow as tf

        self._writer = tf.summary.create_file_writer(log_dir)

    def scalar(self, tag, value, step):
        with self._writer.as_default():
            summary_scalar(tag, value, step)

    def image(self, tag, image, step):
        with self._writer.as_default():
            summary_image(tag, image, step)

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()


class EventFileSummaryWriter(SummaryWriter):
    """Events through the ``tensorboard`` package's own writer (no TensorFlow needed)."""

    def __init__(self, log_dir: str):
        super().__init__(log_dir)
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        os.makedirs(log_dir, exist_ok=True)
        self._event_pb2, self._summary_pb2 = event_pb2, summary_pb2
        self._writer = EventFileWriter(log_dir)

    def _add(self, value, step: int) -> None:
        summary = self._summary_pb2.Summary(value=[value])
        self._writer.add_event(
            self._event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary)
        )

    def scalar(self, tag, value, step):
        self._add(self._summary_pb2.Summary.Value(tag=tag, simple_value=float(value)), step)

    def image(self, tag, image, step):
        from PIL import Image

        pixels = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        encoded = self._summary_pb2.Summary.Image(
            height=pixels.shape[0], width=pixels.shape[1], colorspace=3,
            encoded_image_string=buffer.getvalue(),
        )  # fmt: skip
        self._add(self._summary_pb2.Summary.Value(tag=tag, image=encoded), step)

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()


def summary_writer(log_dir: str | os.PathLike) -> SummaryWriter | None:
    """A :class:`SummaryWriter` for ``log_dir`` on this backend, or ``None`` when events
    cannot be written (a backend other than TensorFlow without the ``tensorboard`` package).

    Example:
        >>> writer = summary_writer("logs/train")
        >>> writer.scalar("loss", 0.5, step=10); writer.close()
    """
    log_dir = os.fspath(log_dir)
    if keras.backend.backend() == "tensorflow":
        return TensorFlowSummaryWriter(log_dir)
    try:
        return EventFileSummaryWriter(log_dir)
    except ImportError:
        return None


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
        >>> import tensorflow as tf
        >>> with tf.summary.create_file_writer("logs").as_default():
        ...     summary_scalar("loss", 0.5, step=10)
    """
    import tensorflow as tf

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
        >>> import tensorflow as tf
        >>> with tf.summary.create_file_writer("logs").as_default():
        ...     summary_image("samples", np.zeros((8, 8, 3)), step=10)
    """
    import tensorflow as tf

    pixels = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    png = tf.io.encode_png(pixels).numpy()
    height, width = pixels.shape[:2]
    tensor = tf.constant([str(width).encode(), str(height).encode(), png])
    tf.summary.write(
        tag, tensor, step=step, metadata=_summary_metadata("images", "DATA_CLASS_BLOB_SEQUENCE")
    )
