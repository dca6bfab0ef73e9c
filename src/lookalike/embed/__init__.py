"""Image bytes -> L2-normalised vectors: decode, preprocess, run a model, in batches.

Heavy dependencies (torch, onnxruntime, rich) are imported inside the functions that use them.
"""

from lookalike.embed.base import Embedder, l2_normalize
from lookalike.embed.decode import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, load_image
from lookalike.embed.onnx_export import MODEL_SPECS, ModelSpec, default_cache_dir, export_onnx
from lookalike.embed.pipeline import EmbedResult, embed_images, embed_one
from lookalike.embed.preprocess import preprocess, preprocess_batch
from lookalike.embed.registry import DEFAULT_MODEL, MODEL_NAMES, get_embedder, model_key
from lookalike.embed.runners import ColorHistogramEmbedder, OnnxEmbedder, TorchEmbedder

__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "load_image",
    "preprocess",
    "preprocess_batch",
    "Embedder",
    "l2_normalize",
    "MODEL_SPECS",
    "ModelSpec",
    "default_cache_dir",
    "export_onnx",
    "OnnxEmbedder",
    "TorchEmbedder",
    "ColorHistogramEmbedder",
    "MODEL_NAMES",
    "DEFAULT_MODEL",
    "get_embedder",
    "model_key",
    "EmbedResult",
    "embed_images",
    "embed_one",
]
