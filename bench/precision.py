"""Accuracy of the speed options on real photos: int8 vs fp32, JPEG draft decode vs full decode.

int8, per model (``--models``) on two sets, every photo querying the others by category:
clothing-small (validation + test: 713 photos, 10 categories; calibrated on 200 photos of the
train split, never queried) and grocery (val + a sixth of train, 43 coarse categories, as in
bench/options.py; calibrated on 200 of the other train photos). It prints P@10 at both
precisions, the paired difference with its 95% bootstrap interval, and int8's recall@10 against
the fp32 top-10 lists. Draft decode (DCT downscale) only acts on JPEGs at least twice the size
the crop needs, and these photos are ~400x533, so the draft rows use clothing photos upscaled 2x
(re-encoded at quality 95): full decode vs draft.

    .venv/bin/python bench/precision.py [--models lite0,lite1] [--sets clothing,grocery]
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
sys.path.insert(0, str(REPO / "bench"))

from datasets import default_datasets  # noqa: E402
from lookalike.embed.decode import load_image  # noqa: E402
from lookalike.embed.preprocess import preprocess  # noqa: E402
from lookalike.embed.quantize import calibration_inputs, quantize_int8  # noqa: E402
from lookalike.embed.registry import get_embedder, onnx_source  # noqa: E402
from lookalike.embed.runners import OnnxEmbedder  # noqa: E402
from lookalike.evaluate.stats import bootstrap_ci  # noqa: E402
from lookalike.index.exact import knn_exact  # noqa: E402

K = 10


def embed(embedder, datas: list[bytes], min_side: int | None) -> np.ndarray:
    rows = []
    for start in range(0, len(datas), 16):
        batch = [
            preprocess(
                load_image(d, min_side=min_side),
                resize=embedder.resize_size,
                crop=embedder.input_size,
            )
            for d in datas[start : start + 16]
        ]
        rows.append(embedder.embed(np.stack(batch)))
    return np.concatenate(rows)


def neighbours(x: np.ndarray) -> np.ndarray:
    _, ids = knn_exact(x, x, K + 1)
    return ids[:, 1:]  # self first (the photos are distinct)


def hits(ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """P@10 of each query."""
    return (labels[ids] == labels[:, None]).mean(axis=1)


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(set(x) & set(y)) / K for x, y in zip(a, b, strict=True)]))


def upscaled(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        big = image.convert("RGB").resize((image.width * 2, image.height * 2), Image.BICUBIC)
    buffer = io.BytesIO()
    big.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def photo_sets(
    root: Path, names: list[str]
) -> dict[str, tuple[list[Path], np.ndarray, list[Path]]]:
    """Per set: (queried photos, their labels, calibration photos never queried)."""
    from datasets import load_clothing
    from options import grocery_sets

    sets = {}
    if "clothing" in names:
        queried = load_clothing(root / "clothing-small", ("validation", "test"))
        train = load_clothing(root / "clothing-small", ("train",)).paths
        sets["clothing"] = (queried.paths, np.array(queried.labels), train)
    if "grocery" in names:
        photos, _, labels = grocery_sets(root / "grocery")
        kept = set(photos.paths)
        rest = [
            root / "grocery" / line.split(",")[0].strip()
            for line in (root / "grocery" / "train.txt").read_text().splitlines()
            if line.strip()
        ]
        sets["grocery"] = (photos.paths, labels["coarse"], [p for p in rest if p not in kept])
    return sets


def int8_row(
    model: str, name: str, queried: list[Path], labels: np.ndarray, cal: list[Path]
) -> str:
    fp32 = get_embedder(model, device="cpu")
    datas = [f.read_bytes() for f in queried]
    step = max(len(cal) // 200, 1)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        inputs = calibration_inputs(
            [p.read_bytes() for p in cal[::step][:200]],
            resize=fp32.resize_size,
            crop=fp32.input_size,
        )
        path = quantize_int8(onnx_source(model), inputs, Path(tmp) / "int8.onnx")
        seconds = time.perf_counter() - t0
        int8 = OnnxEmbedder(
            path, name=f"{model}-int8", input_size=fp32.input_size, resize_size=fp32.resize_size
        )
        ref = neighbours(embed(fp32, datas, fp32.resize_size))
        q8 = neighbours(embed(int8, datas, fp32.resize_size))
    ref_p, q8_p = hits(ref, labels), hits(q8, labels)
    diff = bootstrap_ci(q8_p - ref_p)
    return (
        f"{model:6} {name:9} {len(queried):6d} {ref_p.mean():8.4f} {q8_p.mean():8.4f} "
        f"{diff.mean:+8.4f} [{diff.low:+.4f}, {diff.high:+.4f}] {overlap(ref, q8):9.3f} "
        f"{seconds:6.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=default_datasets())
    parser.add_argument("--models", default="lite0,lite1")
    parser.add_argument("--sets", default="clothing,grocery")
    args = parser.parse_args()
    sets = photo_sets(args.data, args.sets.split(","))
    print("P@10 by category; diff = int8 - fp32, paired, 95% bootstrap interval")
    print(
        f"{'model':6} {'set':9} {'photos':>6} {'fp32':>8} {'int8':>8} {'diff':>8} "
        f"{'interval':>18} {'recall@10':>9} {'cal s':>6}"
    )
    for model in args.models.split(","):
        for name, (queried, labels, cal) in sets.items():
            print(int8_row(model, name, queried, labels, cal), flush=True)
    if "clothing" not in sets:
        return
    queried, labels, _ = sets["clothing"]
    fp32 = get_embedder("lite0", device="cpu")
    big = [upscaled(f.read_bytes()) for f in queried]
    full = neighbours(embed(fp32, big, None))
    draft = neighbours(embed(fp32, big, 256))
    print(f"\nlite0, clothing photos upscaled 2x: {'P@10':>6} {'recall@10 vs full':>18}")
    print(f"{'full decode (reference)':34} {hits(full, labels).mean():6.4f} {'1.000':>18}")
    print(f"{'draft decode':34} {hits(draft, labels).mean():6.4f} {overlap(full, draft):18.3f}")


if __name__ == "__main__":
    main()
