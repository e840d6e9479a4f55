"""Keeping TensorFlow's log lines off the terminal of `train`, `export` and `evaluate`.

On import TensorFlow's C++ libraries log through absl before anything can configure them:
"oneDNN custom operations are on", "Could not find cuda drivers on your machine", "failed
call to cuInit" on any machine without a GPU, each after "All log messages before
absl::InitializeLog() is called are written to STDERR". ``TF_CPP_MIN_LOG_LEVEL`` silences
what TensorFlow logs once it is loaded, but not those lines: they are caught on file
descriptor 2 while TensorFlow is imported and its devices are listed, and dropped (shown
if the import fails). Python's loggers (absl, TensorFlow, tf2onnx) are set to errors only.

Nothing here runs unless a command asks for it; ``--verbose`` or ``--debug`` skip it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator

__all__ = ["quiet_tensorflow"]

#: The level of TensorFlow's C++ logging kept: 3 drops INFO, WARNING and ERROR lines (a
#: real failure reaches the user as a Python exception, which cnnedge reports).
TF_LOG_LEVEL = "3"
_LOGGERS = ("absl", "tensorflow", "tf2onnx", "h5py")


def quiet_tensorflow() -> None:
    """Import TensorFlow without its log lines, and keep its loggers to errors.

    Call before anything imports TensorFlow. A ``TF_CPP_MIN_LOG_LEVEL`` the user set is
    kept. Does nothing when TensorFlow is not installed (the command then says which
    extra to install).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_LOG_LEVEL)
    if "tensorflow" not in sys.modules:
        try:
            with _stderr_caught():
                import tensorflow as tf

                # Device discovery is where "failed call to cuInit" is logged.
                tf.config.list_physical_devices()
        except ImportError:
            return
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def _stderr_caught() -> Iterator[None]:
    """Send file descriptor 2 (where C libraries write) to a temporary file for the block;
    what was caught is shown after all if the block fails, since it may say why."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            except BaseException:
                os.dup2(saved, 2)
                sink.seek(0)
                sys.stderr.write(sink.read().decode("utf-8", "replace"))
                raise
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)
