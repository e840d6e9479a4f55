"""The bundled default models (``digits.onnx`` and ``digits.int8.onnx``); see README.md here."""
