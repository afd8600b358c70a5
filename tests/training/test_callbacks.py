"""keras_perceptual.training.callbacks: the step CSV log."""

from __future__ import annotations

import csv

import keras
import numpy as np

from keras_perceptual.training import StepCSVLogger


def _fit(path, epochs=2, append=False):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 2), "float32")
    model.fit(x, x[:, :1], batch_size=2, epochs=epochs, verbose=0,
              callbacks=[StepCSVLogger(str(path), append=append)])


def _rows(path):
    with open(path, newline="") as file:
        return list(csv.reader(file))


def test_the_log_has_the_logged_columns_only(tmp_path):
    # Keras' CSVLogger added val_loss and val_step, "NA" in every row of a run without
    # validation data (every training run here).
    path = tmp_path / "training_log.csv"
    _fit(path)
    rows = _rows(path)
    assert rows[0] == ["epoch", "loss", "step"]
    assert [row[0] for row in rows[1:]] == ["0", "1"] and [row[2] for row in rows[1:]] == ["2", "4"]


def test_appending_keeps_the_columns_of_the_existing_log(tmp_path):
    # A run resumed by this version appends to a log an older one wrote: same columns.
    path = tmp_path / "training_log.csv"
    path.write_text("epoch,loss,step,val_loss,val_step\n0,1.0,2,NA,NA\n")
    _fit(path, epochs=1, append=True)
    rows = _rows(path)
    assert rows[0] == ["epoch", "loss", "step", "val_loss", "val_step"]
    assert len(rows) == 3 and len(rows[2]) == 5 and rows[2][3:] == ["NA", "NA"]
    fresh = tmp_path / "fresh.csv"
    _fit(fresh, epochs=1, append=True)  # append=True to a new file: a header, as Keras does
    assert _rows(fresh)[0] == ["epoch", "loss", "step"]
