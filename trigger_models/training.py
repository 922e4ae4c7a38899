"""Training: Keras fit with validation, early stopping, a learning-rate schedule, progress.

Also the one helper that saves and loads models (``.h5``) with the QKeras
custom objects, the history as JSON, and the loss-curve plot.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from triginfer.atomic import atomic_path
from triginfer.errors import ConfigError, InputFileError

log = logging.getLogger(__name__)


@dataclass
class TrainingConfig:
    """The ``training`` section of a config.

    Attributes:
        epochs: maximum epochs of the float model.
        prune_epochs: epochs of prune-and-fine-tune of the float model (models with pruning).
        qat_epochs: maximum epochs of quantization-aware fine-tuning, starting from the
            (pruned) float weights.
        batch_size: events per gradient step.
        learning_rate: initial Adam learning rate.
        qat_learning_rate: initial learning rate of the fine-tuning.
        patience: early-stopping patience (epochs without validation improvement).
        lr_patience: epochs without improvement before the learning rate halves.
        loss: ``"mse"`` or ``"huber"``.
        huber_delta: Huber transition point, in units of q/pT (GeV^-1).
        max_train_events: cap on training events (0 = all).
        pt_weight_power: events are weighted by ``min(pT, pt_weight_cap) ** power``
            (normalised to mean 1), so that the loss on q/pT does not neglect the
            high-pT muons that set the trigger rate; 0 disables weighting.
        pt_weight_cap: pT (GeV) above which the weight stops growing.
    """

    epochs: int = 30
    prune_epochs: int = 25
    qat_epochs: int = 20
    batch_size: int = 1024
    learning_rate: float = 3e-3
    qat_learning_rate: float = 1e-3
    patience: int = 5
    lr_patience: int = 2
    loss: str = "mse"
    huber_delta: float = 0.02
    max_train_events: int = 0
    pt_weight_power: float = 2.0
    pt_weight_cap: float = 50.0

    def __post_init__(self) -> None:
        if self.loss not in ("mse", "huber"):
            raise ConfigError(f"training.loss must be 'mse' or 'huber', got {self.loss!r}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"training.{name} must be positive")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> TrainingConfig:
        """Parse the ``training`` section; unknown keys raise :class:`ConfigError`."""
        values = values or {}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"training: unknown key(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    def sample_weights(self, pt: np.ndarray) -> np.ndarray:
        """Per-event loss weights from true pT (see ``pt_weight_power``), mean 1."""
        w = np.clip(np.asarray(pt, np.float64), 1.0, self.pt_weight_cap) ** self.pt_weight_power
        return (w / w.mean()).astype(np.float32) if len(w) else w.astype(np.float32)

    def keras_loss(self):
        """The Keras loss object."""
        from tensorflow import keras

        if self.loss == "huber":
            return keras.losses.Huber(delta=self.huber_delta)
        return keras.losses.MeanSquaredError()


def set_seeds(seed: int) -> None:
    """Seed Python, numpy and TensorFlow, and ask TF for deterministic ops."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


class _ProgressCallback:
    """Factory for a Keras callback showing one tqdm bar over epochs with the losses."""

    @staticmethod
    def make(total: int, desc: str, disable: bool):
        from tensorflow import keras
        from tqdm.auto import tqdm

        class Progress(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.bar = tqdm(total=total, desc=desc, unit="epoch", disable=True if disable else None,
                                leave=False)

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                self.bar.set_postfix(loss=f"{logs.get('loss', 0):.3g}",
                                     val=f"{logs.get('val_loss', 0):.3g}")
                self.bar.update(1)

            def on_train_end(self, logs=None):
                self.bar.close()

        return Progress()


def fit(model, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
        *, epochs: int, learning_rate: float, cfg: TrainingConfig,
        w_train: np.ndarray | None = None, w_val: np.ndarray | None = None,
        desc: str = "training",
        extra_callbacks: list | None = None, early_stop_from: int = 0,
        quiet: bool = False) -> dict[str, list[float]]:
    """Compile and fit ``model``; early stopping restores the best validation weights.

    ``early_stop_from`` delays early stopping (used while a pruning schedule ramps up).
    Returns the history (per-epoch ``loss``, ``val_loss``, ``lr``).
    """
    from tensorflow import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=cfg.keras_loss())
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience,
                                      restore_best_weights=True,
                                      start_from_epoch=early_stop_from),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                          patience=cfg.lr_patience, min_lr=1e-5),
        _ProgressCallback.make(epochs, desc, quiet),
        *(extra_callbacks or []),
    ]
    validation = (x_val, y_val) if w_val is None else (x_val, y_val, w_val)
    history = model.fit(x_train, y_train, sample_weight=w_train, validation_data=validation,
                        epochs=epochs,
                        batch_size=cfg.batch_size, callbacks=callbacks, verbose=0, shuffle=True)
    out = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    if out.get("val_loss"):
        log.info("%s: %d epochs, best val_loss %.4g", desc, len(out["val_loss"]),
                 min(out["val_loss"]))
    return out


def custom_objects() -> dict[str, Any]:
    """Keras custom objects for QKeras layers and quantizers."""
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict[str, Any] = {}
    _add_supported_quantized_objects(objects)
    return objects


def save_model(model, path: str | os.PathLike) -> Path:
    """Save as ``.h5`` (atomically: temporary name, then rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        model.save(tmp, include_optimizer=False)
    return path


def load_model(path: str | os.PathLike):
    """Load a float or QKeras ``.h5``/``.keras`` model saved by :func:`save_model` (or by hand).

    The file is untrusted: its config is read as data and refused if it carries code
    (:func:`triginfer.untrusted.check_keras_file`) before Keras deserialises anything;
    ``.keras`` archives then load with ``safe_mode=True``."""
    from triginfer.untrusted import check_keras_file

    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: model file not found")
    check_keras_file(path)
    from triginfer.extras import require

    require("tensorflow", f"loading the Keras model {path}")
    require("qkeras", f"loading the Keras model {path}")
    if path.suffix == ".h5" and b"HGQ>" in _h5_model_config(path):
        require("HGQ", f"loading the HGQ1 model {path}")     # registers HGQ's layers
    from tensorflow import keras

    kwargs = {"safe_mode": True} if path.suffix == ".keras" else {}
    try:
        return keras.models.load_model(path, custom_objects=custom_objects(), compile=False,
                                       **kwargs)
    except (OSError, ValueError, TypeError) as exc:
        raise InputFileError(f"{path}: cannot load as a Keras/QKeras model ({exc})") from exc


def _h5_model_config(path: Path) -> bytes:
    """The ``model_config`` attribute of a Keras ``.h5`` (empty when it has none)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            value = f.attrs.get("model_config", b"")
    except OSError:
        return b""
    return value.encode() if isinstance(value, str) else bytes(value)


def copy_weights_by_name(src, dst) -> int:
    """Copy weights between models with the same layer names and shapes; returns layers copied."""
    by_name = {layer.name: layer for layer in src.layers}
    copied = 0
    for layer in dst.layers:
        source = by_name.get(layer.name)
        if source is None or not source.get_weights():
            continue
        if [w.shape for w in source.get_weights()] == [w.shape for w in layer.get_weights()]:
            layer.set_weights(source.get_weights())
            copied += 1
    return copied


def predict(model, x: np.ndarray, batch_size: int = 16384) -> np.ndarray:
    """Model output as ``(n_events, n_outputs)`` float64, in large batches."""
    out = model.predict(x, batch_size=batch_size, verbose=0)
    return np.asarray(out, dtype=np.float64).reshape(len(x), -1)
