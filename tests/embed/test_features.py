"""Label-free feature options: each changes the vectors as specified, deterministically."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lookalike.embed.features import FeatureSpec, gem_pool, power_normalize, resize_batch
from lookalike.embed.preprocess import preprocess
from lookalike.embed.registry import get_embedder, model_key
from lookalike.embed.runners import ColorHistogramEmbedder
from lookalike.embed.whiten import Whitening
from lookalike.errors import ConfigError
from lookalike.recommend.expansion import alpha_query_expansion, database_augmentation


def _batch(n: int = 3, size: int = 224, seed: int = 0) -> np.ndarray:
    """Asymmetric synthetic images (a bright bar on the left), so a flip changes them."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8) // 3
        pixels[:, : size // 4 + 10 * i] = (250, 200 - 40 * i, 30)
        images.append(preprocess(Image.fromarray(pixels), resize=size, crop=size))
    return np.stack(images)


def test_parse_key_and_errors() -> None:
    spec = FeatureSpec.parse("lite0+sqrt+flip+gem")
    assert spec.key() == "lite0+gem3+flip+sqrt" == model_key("lite0+flip+gem+sqrt")
    assert FeatureSpec.parse("lite0+gem2.5+color0.3").key() == "lite0+gem2.5+color0.3"
    assert FeatureSpec.parse("lite0").is_plain and model_key("lite0+") == "lite0"
    assert FeatureSpec.parse("lite0+lite1").models == ("lite0", "lite1")
    for bad in ("lite0+wobble", "gem", "lite0+gem20", "lite0+pow2"):
        with pytest.raises(ConfigError):
            model_key(bad)


def test_pooling_and_power_arrays() -> None:
    maps = np.zeros((1, 2, 2, 2), dtype=np.float32)
    maps[0, 0] = [[0, 0], [0, 4]]
    maps[0, 1] = 1.0
    np.testing.assert_allclose(gem_pool(maps, None)[0], [1.0, 1.0])
    # GeM p=3 of (0,0,0,4): (64/4)^(1/3) = 2.52: pulled toward the maximum
    np.testing.assert_allclose(gem_pool(maps, 3.0)[0], [16 ** (1 / 3), 1.0], rtol=1e-5)
    np.testing.assert_allclose(power_normalize(np.array([[-4.0, 9.0]]), 0.5), [[-2.0, 3.0]])
    flat = np.ones((1, 3, 8, 8), dtype=np.float32)
    np.testing.assert_allclose(resize_batch(flat, 5), np.ones((1, 3, 5, 5)), rtol=1e-6)


def test_gem1_is_the_plain_model_and_gem_changes_it() -> None:
    batch = _batch()
    plain = get_embedder("lite0").embed(batch)
    np.testing.assert_allclose(get_embedder("lite0+gem1").embed(batch), plain, atol=2e-5)
    gem = get_embedder("lite0+gem").embed(batch)
    assert gem.shape == plain.shape
    assert np.abs(gem - plain).max() > 1e-3
    np.testing.assert_array_equal(gem, get_embedder("lite0+gem").embed(batch))  # deterministic


def test_flip_is_mirror_invariant_and_blocks_color_widen() -> None:
    batch = _batch()
    mirrored = batch[..., ::-1].copy()
    flip = get_embedder("lite0+flip")
    np.testing.assert_allclose(flip.embed(batch), flip.embed(mirrored), atol=2e-5)
    plain = get_embedder("lite0")
    assert np.abs(plain.embed(batch) - plain.embed(mirrored)).max() > 1e-3
    assert get_embedder("lite0+blocks").dim == 1280 + 320 + 112
    color = get_embedder("lite0+color")
    x = color.embed(batch)
    hist = ColorHistogramEmbedder().embed(batch)
    # the colour part is the histogram at weight 0.5 after one joint normalisation
    np.testing.assert_allclose(
        x[:, 1280:] / np.linalg.norm(x[:, 1280:], axis=1)[:, None], hist, atol=1e-5
    )
    np.testing.assert_allclose(np.linalg.norm(x[:, 1280:], axis=1), 0.5 / np.sqrt(1.25), atol=1e-5)


def test_multiscale_takes_a_larger_input() -> None:
    ms = get_embedder("lite0+ms")
    assert ms.input_size == 280 and ms.dim == 1280
    x = ms.embed(_batch(2, 280))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)


def test_whitening_is_deterministic_and_equalises_variance() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6)) * np.array([10, 5, 1, 1, 1, 0.1])
    w = Whitening.fit(x, shrink=1e-6)
    again = Whitening.fit(x, shrink=1e-6)
    np.testing.assert_array_equal(w.apply(x), again.apply(x))
    z = (x - w.mean) @ w.directions * w.scales  # whitened coordinates before normalising
    np.testing.assert_allclose(z.std(axis=0), 1.0, rtol=3e-3)
    # strong shrinkage leaves plain centring (up to scale): directions barely reweighted
    loose = Whitening.fit(x, shrink=1e6).apply(x)
    centred = (x - x.mean(axis=0)) / np.linalg.norm(x - x.mean(axis=0), axis=1, keepdims=True)
    np.testing.assert_allclose(loose, centred, atol=1e-3)
    with pytest.raises(ConfigError):
        Whitening.fit(x[:1])


def test_expansion_pulls_toward_neighbours() -> None:
    xb = np.array([[1, 0], [0.8, 0.6], [0, 1]], dtype=np.float32)
    dba = database_augmentation(xb, 2, 1.0)
    # row 0 = L2(1*x0 + 0.8*x1): between x0 and x1
    expected = xb[0] + 0.8 * xb[1]
    np.testing.assert_allclose(dba[0], expected / np.linalg.norm(expected), rtol=1e-6)
    q = np.array([[0.6, 0.8]], dtype=np.float32)
    out = alpha_query_expansion(q, xb, 1, 3.0)
    target = q[0] + 0.96**3 * xb[1]
    np.testing.assert_allclose(out[0], target / np.linalg.norm(target), rtol=1e-5)
