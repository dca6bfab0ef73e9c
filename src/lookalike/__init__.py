"""lookalike: visually similar product recommendations from a shop's own catalog."""

import os

# ONNX Runtime (>= 1.2x) records telemetry events under ~/.cache/Microsoft/ unless this is set
# before it is first imported; a shop's server should not. A user's own setting wins.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
