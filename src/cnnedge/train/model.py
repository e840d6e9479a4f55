"""The reference CNN, layer for layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

__all__ = [
    "INPUT_SHAPE",
    "NUM_CLASSES",
    "REFERENCE_PARAMS",
    "ROBUST_CLASSES",
    "ROBUST_PARAMS",
    "build_model",
]

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
#: The robust recipe's outputs: the ten digits and "not a digit".
ROBUST_CLASSES = 11
#: Trainable parameters of the reference architecture; a test pins it.
REFERENCE_PARAMS = 255_274
#: The same network with an eleventh output (33 more weights).
ROBUST_PARAMS = 255_307


def build_model(*, classes: int = NUM_CLASSES) -> keras.Model:
    """Conv 32 5x5 / pool / Conv 64 5x5 / pool / Dense 64 / Dense 32 / Dense ``classes``,
    compiled.

    Pixels in [0, 1], white digit on black, shape (batch, 28, 28, 1); softmax output. The
    notebook's network has 10 classes; the robust recipe adds "not a digit" as an 11th.
    Seed Keras (``keras.utils.set_random_seed``) before calling for repeatable weights.
    """
    import keras
    from keras import layers

    model = keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE, name="image"),
            layers.Conv2D(32, 5, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(pool_size=2, strides=2, name="pool1"),
            layers.Conv2D(64, 5, padding="same", activation="relu", name="conv2"),
            layers.MaxPooling2D(pool_size=2, strides=2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dense(64, activation="relu", name="dense1"),
            layers.Dropout(0.4, name="dropout1"),
            layers.Dense(32, activation="relu", name="dense2"),
            layers.Dropout(0.4, name="dropout2"),
            layers.Dense(classes, activation="softmax", name="probabilities"),
        ],
        name="cnnedge_reference" if classes == NUM_CLASSES else "cnnedge_robust",
    )
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
