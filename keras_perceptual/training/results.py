"""What a recipe returns (:class:`TrainingResult`) and reading the CSV logs a run writes."""

from __future__ import annotations

import csv
import dataclasses
import math
import os

import keras

from keras_perceptual.training.files import atomic_write_text


@dataclasses.dataclass
class TrainingResult:
    """What a training recipe returns.

    Attributes:
        model: the trained network (plain, uncompiled; the same weights as ``model_path``).
        history: the per-interval logs of the whole run, earlier resumed parts
            included (read from ``csv_path``): ``{"epoch": [...], "step": [...],
            "loss": [...], ...}``.
        step: the global step reached.
        resumed_from: the step restored from a backup (0 for a fresh start).
        output_dir: the run's folder.
        model_path: ``output_dir/model.keras``.
        config_path: ``output_dir/config.json``.
        backup_dir: ``output_dir/backup``.
        log_dir: ``output_dir/logs`` (TensorBoard).
        csv_path: ``output_dir/training_log.csv``.
        steps_path: ``output_dir/steps.csv`` (loss per step).
        samples_dir: ``output_dir/samples`` (sample grids).
        weights: the loss network's weights as requested (``"imagenet"``, ...).
        skipped_images: image files left out when the folders were scanned (corrupt,
            truncated, too small; the photos, and the paintings of an arbitrary-style run;
            named in a ``SkippedImagesWarning`` and listed in ``config.json``).
        runtime_skipped: decodes that failed while training (a file deleted or damaged
            after the scan; counted, skipped, training went on; ``config.json`` lists them
            under ``runs``).
        chief: whether this process wrote the outputs (``False`` on the other workers of a
            multi-worker run, which write nothing).
        replicas: the strategy's replicas in sync (devices times workers).
    """

    model: keras.Model
    history: dict[str, list[float]]
    step: int
    resumed_from: int
    output_dir: str
    model_path: str
    config_path: str
    backup_dir: str
    log_dir: str
    csv_path: str
    steps_path: str
    samples_dir: str
    weights: str | None
    skipped_images: int = 0
    runtime_skipped: int = 0
    chief: bool = True
    replicas: int = 1

    def summary(self) -> str:
        """A few lines for people: the step reached and where the outputs are."""
        resumed = f" (resumed from step {self.resumed_from})" if self.resumed_from else ""
        if self.resumed_from and self.step == self.resumed_from:
            # A finished run resumed with steps at or below the step it had reached.
            detail = ": no training step ran"
        else:
            detail = f" on {self.replicas} replicas" if self.replicas > 1 else ""
        if not self.chief:
            return (
                f"trained to step {self.step}{resumed}{detail}; this worker writes nothing "
                "(the chief writes the outputs)"
            )
        lines = [
            f"trained to step {self.step}{resumed}{detail}; outputs in {self.output_dir}:",
            f"  model        {self.model_path}",
            f"  config       {self.config_path}",
            f"  log          {self.csv_path} (per interval), {self.steps_path} (per step)",
            f"  samples      {self.samples_dir}",
            f"  tensorboard  tensorboard --logdir {self.log_dir}",
        ]
        if self.skipped_images or self.runtime_skipped:
            lines.append(
                f"  data         {self.skipped_images} unusable file(s) left out at the scan, "
                f"{self.runtime_skipped} failed decode(s) skipped while training"
            )
        return "\n".join(lines)


def read_csv_log(path: str | os.PathLike) -> dict[str, list[float]]:
    """Reads a CSV log (``training_log.csv`` / ``steps.csv``) into ``{column: [values]}``.

    Args:
        path: the CSV file; a missing file gives ``{}``.

    Returns:
        Columns as lists of floats (``nan`` for empty cells); columns with no value at
        all (the ``val_*`` columns Keras' ``CSVLogger`` adds without validation) are left out.

    Example:
        >>> with open("steps.csv", "w") as f:  # as StepLossLogger writes it
        ...     _ = f.write("step,loss\\n1,41234.5\\n2,39876.1\\n3,38001.7\\n")
        >>> read_csv_log("steps.csv")["loss"]
        [41234.5, 39876.1, 38001.7]
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = float("nan")
            columns.setdefault(key, []).append(number)
    # Keras' CSVLogger adds empty val_* columns when there is no validation data.
    return {k: v for k, v in columns.items() if not all(math.isnan(x) for x in v)}


def truncate_csv(path: str, column: str, keep_below: float) -> None:
    """Drops rows whose ``column`` is >= ``keep_below`` (work after the restored backup)."""
    if not os.path.exists(path):
        return
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or column not in rows[0]:
        return
    index = rows[0].index(column)
    kept = [rows[0]]
    for row in rows[1:]:
        try:
            if float(row[index]) < keep_below:
                kept.append(row)
        except (IndexError, ValueError):
            continue
    if len(kept) != len(rows):
        import io

        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(kept)
        atomic_write_text(path, buffer.getvalue())
