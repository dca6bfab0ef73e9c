"""Accuracy of the speed options on real photos: int8 vs fp32, JPEG draft decode vs full decode.

On clothing-small (validation + test: 713 photos, 10 categories) every photo queries the others:
P@10 by category, and for int8 its recall@10 against the fp32 top-10 lists. The int8 model is
calibrated on 200 photos of the train split (never queried). Draft decode (DCT downscale) only
acts on JPEGs at least twice the 256 px the crop needs, and these photos are ~400x533, so the
draft rows use the same photos upscaled 2x (re-encoded at quality 95): full decode vs draft.

    .venv/bin/python bench/precision.py [--data ../shared/datasets/clothing-small]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from lookalike.embed.decode import load_image  # noqa: E402
from lookalike.embed.preprocess import preprocess  # noqa: E402
from lookalike.embed.quantize import calibration_inputs, quantize_int8  # noqa: E402
from lookalike.embed.registry import get_embedder, onnx_source  # noqa: E402
from lookalike.embed.runners import OnnxEmbedder  # noqa: E402
from lookalike.index.exact import knn_exact  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "clothing-small"
K = 10


def embed(embedder, datas: list[bytes], min_side: int | None) -> np.ndarray:
    rows = []
    for start in range(0, len(datas), 16):
        batch = [preprocess(load_image(d, min_side=min_side)) for d in datas[start : start + 16]]
        rows.append(embedder.embed(np.stack(batch)))
    return np.concatenate(rows)


def neighbours(x: np.ndarray) -> np.ndarray:
    _, ids = knn_exact(x, x, K + 1)
    return ids[:, 1:]  # self first (the photos are distinct)


def p_at_10(ids: np.ndarray, labels: np.ndarray) -> float:
    return float((labels[ids] == labels[:, None]).mean())


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(set(x) & set(y)) / K for x, y in zip(a, b, strict=True)]))


def upscaled(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        big = image.convert("RGB").resize((image.width * 2, image.height * 2), Image.BICUBIC)
    buffer = io.BytesIO()
    big.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    files = sorted(args.data.glob("validation/*/*.jpg")) + sorted(args.data.glob("test/*/*.jpg"))
    if not files:
        sys.exit(f"no photos under {args.data}")
    labels = np.array([f.parent.name for f in files])
    datas = [f.read_bytes() for f in files]
    fp32 = get_embedder("lite0", device="cpu")
    calibration = sorted(args.data.glob("train/*/*.jpg"))
    step = max(len(calibration) // 200, 1)
    cal = [p.read_bytes() for p in calibration[::step][:200]]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        inputs = calibration_inputs(cal, resize=256, crop=224)
        path = quantize_int8(onnx_source("lite0"), inputs, Path(tmp) / "int8.onnx")
        print(f"int8 calibrated on {len(inputs)} train photos in {time.perf_counter() - t0:.0f} s")
        int8 = OnnxEmbedder(path, name="lite0-int8")
        ref = neighbours(embed(fp32, datas, 256))
        q8 = neighbours(embed(int8, datas, 256))
    big = [upscaled(d) for d in datas]
    full = neighbours(embed(fp32, big, None))
    draft = neighbours(embed(fp32, big, 256))

    print(f"\n{len(files)} photos of clothing-small (validation + test), P@10 by category")
    print(f"{'setting':42} {'P@10':>6} {'recall@10 vs reference':>23}")
    print(f"{'fp32 (reference)':42} {p_at_10(ref, labels):6.4f} {'1.000':>23}")
    print(
        f"{'int8 static (200 train photos)':42} {p_at_10(q8, labels):6.4f} {overlap(ref, q8):23.3f}"
    )
    print(
        f"{'fp32, photos 2x, full decode (reference)':42} {p_at_10(full, labels):6.4f} "
        f"{'1.000':>23}"
    )
    print(
        f"{'fp32, photos 2x, draft decode':42} {p_at_10(draft, labels):6.4f} "
        f"{overlap(full, draft):23.3f}"
    )


if __name__ == "__main__":
    main()
