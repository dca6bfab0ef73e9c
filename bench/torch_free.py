"""The torch-free runtime against the torch path it replaced (issue #16).

1. Conversion: seconds to build each EfficientNet-Lite graph with lookalike's converter, beside
   ``torch.onnx.export`` of the same model (torch only for the comparison: the dev extra).
2. Image model: ONNX Runtime throughput of the converted graph vs the torch-exported one, same
   batch of real photos, rounds interleaved so load on a shared machine hits both alike.
3. Titles: the ONNX Runtime MiniLM encoder vs sentence-transformers, same titles.

    .venv/bin/python bench/torch_free.py [--models lite0,lite2] [--rounds 3] [--titles 512]

Prints one JSON object. Ratios are the figures to compare; absolute numbers move with load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
DATA = REPO.parent / "shared" / "datasets" / "clothing-small"

WORDS = (
    "red wool hat|slim fit blue jeans|white cotton t-shirt|leather ankle boots|summer midi dress|"
    "waterproof hooded parka|красное платье миди|зимний пуховик с капюшоном|кроссовки беговые|"
    "striped linen shirt|knitted cashmere scarf|chunky sneakers"
).split("|")


def _best(seconds: list[float]) -> float:
    return min(seconds)


def _photo_batch(name: str, count: int) -> np.ndarray:
    from lookalike.embed.decode import load_image
    from lookalike.embed.onnx_export import get_spec
    from lookalike.embed.preprocess import preprocess_batch

    spec = get_spec(name)
    paths = sorted(DATA.glob("test/*/*.jpg"))[:count]
    if len(paths) < count:
        raise SystemExit(f"need {count} photos under {DATA}")
    images = (load_image(p.read_bytes(), min_side=spec.resize_size) for p in paths)
    return preprocess_batch(images, resize=spec.resize_size, crop=spec.input_size)


def conversion(name: str, rounds: int, folder: Path) -> dict[str, float]:
    from lookalike.embed.lite_onnx import build_lite_onnx
    from lookalike.embed.onnx_export import get_spec
    from lookalike.embed.torch_model import export_torch_onnx, load_torch_model

    ours, theirs = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        (folder / f"{name}-ours.onnx").write_bytes(build_lite_onnx(name))
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        module = load_torch_model(name)
        export_torch_onnx(module, get_spec(name).input_size, folder / f"{name}-torch.onnx")
        theirs.append(time.perf_counter() - t0)
    return {"converter_s": round(_best(ours), 3), "torch_export_s": round(_best(theirs), 3)}


def throughput(name: str, rounds: int, folder: Path, batch: int = 32) -> dict[str, float]:
    import onnxruntime as ort

    x = _photo_batch(name, batch)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sessions = {
        key: ort.InferenceSession(
            str(folder / f"{name}-{key}.onnx"), options, providers=["CPUExecutionProvider"]
        )
        for key in ("ours", "torch")
    }
    outs = {k: s.run(None, {"input": x})[0] for k, s in sessions.items()}  # warm-up
    cosine = np.sum(outs["ours"] * outs["torch"], 1) / (
        np.linalg.norm(outs["ours"], axis=1) * np.linalg.norm(outs["torch"], axis=1)
    )
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(rounds):
        for key, session in sessions.items():
            t0 = time.perf_counter()
            session.run(None, {"input": x})
            session.run(None, {"input": x})
            times[key].append((time.perf_counter() - t0) / 2)
    rate = {k: batch / _best(v) for k, v in times.items()}
    return {
        "converted_img_s": round(rate["ours"], 1),
        "torch_exported_img_s": round(rate["torch"], 1),
        "ratio": round(rate["ours"] / rate["torch"], 3),
        "min_cosine": round(float(cosine.min()), 7),
        "max_abs_error": float(np.abs(outs["ours"] - outs["torch"]).max()),
    }


def titles(count: int, rounds: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    texts = [
        " ".join(rng.choice(WORDS, size=int(rng.integers(1, 4)))) + f" {i}" for i in range(count)
    ]
    t0 = time.perf_counter()
    from lookalike.embed.titles import load_title_encoder

    ours = load_title_encoder()
    load_ours = time.perf_counter() - t0
    os.environ["HF_HUB_OFFLINE"] = "1"
    t0 = time.perf_counter()
    from sentence_transformers import SentenceTransformer

    from lookalike.embed.titles import title_model_dir

    st = SentenceTransformer(str(title_model_dir()), device="cpu")
    load_st = time.perf_counter() - t0
    ours.encode(texts[:64])
    st.encode(texts[:64], show_progress_bar=False)
    t_ours, t_st = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        a = ours.encode(texts)
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b = st.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        t_st.append(time.perf_counter() - t0)
    return {
        "onnx_titles_s": round(count / _best(t_ours), 1),
        "sentence_transformers_titles_s": round(count / _best(t_st), 1),
        "ratio": round(_best(t_st) / _best(t_ours), 3),
        "load_onnx_s": round(load_ours, 2),
        "load_sentence_transformers_s (incl. torch import)": round(load_st, 2),
        "min_cosine": round(float(np.sum(a * b, axis=1).min()), 7),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lite0,lite2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--titles", type=int, default=512)
    args = parser.parse_args()
    result: dict[str, object] = {"cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            result[name] = {
                **conversion(name, args.rounds, Path(tmp)),
                **throughput(name, args.rounds * 2, Path(tmp)),
            }
    result["titles"] = titles(args.titles, args.rounds)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
