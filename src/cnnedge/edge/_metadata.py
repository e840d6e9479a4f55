"""The description a cnnedge model carries in its ONNX ``metadata_props``.

Export writes it; the edge runner reads it to configure itself. Foreign models have none,
and the runner falls back to what their input shape says plus user options. Keys are
namespaced ``cnnedge.*``; structured values are JSON strings, since ONNX metadata values
must be strings.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["ModelMetadata"]

PREFIX = "cnnedge."
DIGIT_LABELS = tuple(str(d) for d in range(10))
#: The label of a model's "not a digit" output. A runner answers "no digit" when it wins.
NOT_A_DIGIT = "not a digit"

Layout = Literal["NHWC", "NCHW"]
Polarity = Literal["white-on-black", "black-on-white"]
OutputKind = Literal["probabilities", "logits"]


@dataclass(frozen=True)
class ModelMetadata:
    """What a runner must know to feed a digit model correctly, and where the model came from."""

    #: One label per output, in order: the digits, and for a model that can tell,
    #: :data:`NOT_A_DIGIT`.
    labels: tuple[str, ...] = DIGIT_LABELS
    input_layout: Layout = "NHWC"
    #: Pixel value of background (first) and full ink (second) after scaling.
    input_range: tuple[float, float] = (0.0, 1.0)
    polarity: Polarity = "white-on-black"
    output: OutputKind = "probabilities"
    cnnedge_version: str | None = None
    source_sha256: str | None = None
    recipe: dict[str, Any] | None = None
    test_accuracy: float | None = None
    quantization: dict[str, Any] | None = None
    parity: dict[str, Any] | None = None
    #: The export-time graph rewrites applied (``cnnedge.export._optimize``), None for none.
    #: Informative only: a uint8 input and its 0-255 ``input_range`` already tell a runner
    #: how to feed the model.
    optimizations: tuple[str, ...] | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def to_props(self) -> dict[str, str]:
        """Flatten to ``metadata_props`` strings (keys prefixed ``cnnedge.``)."""
        props: dict[str, str] = {}
        for key, value in asdict(self).items():
            if key == "extra" or value is None:
                continue
            props[PREFIX + key] = value if isinstance(value, str) else json.dumps(value)
        props.update(self.extra)
        return props

    @classmethod
    def from_props(cls, props: dict[str, str]) -> ModelMetadata | None:
        """Parse ``metadata_props``; None when the model carries no cnnedge metadata."""
        ours = {k[len(PREFIX) :]: v for k, v in props.items() if k.startswith(PREFIX)}
        if not ours:
            return None
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        kwargs: dict[str, Any] = {}
        for key, raw in ours.items():
            if key not in known:
                continue
            if key in ("input_layout", "polarity", "output", "cnnedge_version", "source_sha256"):
                kwargs[key] = raw
                continue
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if key in ("labels", "input_range", "optimizations") and isinstance(value, list):
                value = tuple(value)
            kwargs[key] = value
        extra = {k: v for k, v in props.items() if not k.startswith(PREFIX)}
        return cls(**kwargs, extra=extra)
