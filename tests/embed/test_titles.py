"""The torch-free MiniLM title encoder against sentence-transformers (the dev extra)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lookalike.embed.titles import TITLE_DIM, TitleEncoder, load_title_encoder, title_model_dir

TITLES = [
    "Chunky knit wool beanie",
    "Slim fit dark blue jeans, stretch denim",
    "Men's waterproof parka with detachable hood and fleece lining, navy, size XL",
    "T-shirt",
    "красное платье миди с длинным рукавом",
    "Пуховик зимний женский с капюшоном, чёрный",
    "Кроссовки беговые — размер 42",
    "café crème 100% coton (édition limitée)",
]


@pytest.mark.slow
def test_matches_sentence_transformers_english_and_russian() -> None:
    st = pytest.importorskip("sentence_transformers", reason="the reference (dev extra)")
    os.environ["HF_HUB_OFFLINE"] = "1"
    reference = st.SentenceTransformer(str(title_model_dir()), device="cpu")
    titles = [*TITLES, " ".join(["long"] * 400)]  # past the 256-token limit: truncated alike
    theirs = reference.encode(titles, normalize_embeddings=True, show_progress_bar=False)
    ours = load_title_encoder().encode(titles)
    cosine = np.sum(ours * theirs, axis=1)
    print(f"titles: min cosine {cosine.min():.7f}, max abs error {np.abs(ours - theirs).max():.2e}")
    assert ours.shape == (len(titles), TITLE_DIM) and ours.dtype == np.float32
    assert cosine.min() > 0.9999


def test_batches_keep_order_and_rows_are_unit() -> None:
    encoder = load_title_encoder()
    many = [TITLES[i % len(TITLES)] + " " * (i % 3) + str(i) for i in range(150)]  # > 2 batches
    batched = encoder.encode(many)
    one_by_one = np.concatenate([encoder.encode([t]) for t in many[::37]])
    np.testing.assert_allclose(batched[::37], one_by_one, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, TITLE_DIM)
    # Russian paraphrase: closer to its own dress than to the jacket
    dress, jacket, query = encoder.encode([TITLES[4], TITLES[5], "платье красное миди"])
    assert float(query @ dress) > float(query @ jacket)


def test_model_folder_found_without_importing_sentence_transformers() -> None:
    folder = title_model_dir()
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert isinstance(load_title_encoder(), TitleEncoder)
