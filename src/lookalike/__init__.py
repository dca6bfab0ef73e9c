"""lookalike: visually similar product recommendations from a shop's own catalog."""

__version__ = "0.1.0"
