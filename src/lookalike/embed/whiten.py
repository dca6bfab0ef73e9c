"""PCA-whitening with shrinkage, fitted on a catalog's own vectors (no labels).

Whitening divides each principal direction by its standard deviation, so the few directions
every image shares (background, lighting) stop dominating the cosine. Shrinkage adds
``shrink * mean eigenvalue`` to every eigenvalue first: weak directions are not blown up, and a
small catalog (fewer images than dimensions) still gives a well-defined, full-rank transform.
``shrink -> inf`` is plain centring; ``shrink -> 0`` full whitening.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.atomic import write_bytes_atomic
from lookalike.embed.base import l2_normalize
from lookalike.errors import ConfigError

__all__ = ["Whitening", "DEFAULT_SHRINK"]

DEFAULT_SHRINK = 1.0


def _principal(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending, of the covariance ``z^T z / n``) and the directions as rows,
    from the eigen-decomposition of the smaller of ``z z^T`` and ``z^T z`` (several times
    faster than an SVD of ``z``); directions with a zero eigenvalue are dropped."""
    n, d = z.shape
    values, vectors = np.linalg.eigh(z @ z.T if n < d else z.T @ z)
    values, vectors = values[::-1], vectors[:, ::-1]
    keep = values > max(float(values[0]) * 1e-10, 0.0)
    values, vectors = values[keep], vectors[:, keep]
    # from the Gram matrix: the directions are z^T u / sqrt(lambda) (z = U S V^T)
    vt = (z.T @ vectors / np.sqrt(values)).T if n < d else vectors.T
    return values / n, vt


@dataclass(frozen=True)
class Whitening:
    """``y = L2(c z + ((z U) * (f - c)) U^T)`` with ``z = x - mean``: ``U`` the principal
    directions found, ``f`` their scale ``(lambda + delta)^-1/2``, ``c = delta^-1/2`` for the
    rest of the space (``delta = shrink * mean eigenvalue``)."""

    mean: np.ndarray  # (d,)
    directions: np.ndarray  # (d, r) orthonormal columns
    scales: np.ndarray  # (r,)
    rest: float
    shrink: float

    @classmethod
    def fit(cls, vectors: np.ndarray, shrink: float = DEFAULT_SHRINK) -> Whitening:
        """Fit on ``(n, d)`` vectors (n >= 2); deterministic (eigen-decomposition, signs fixed)."""
        x = np.asarray(vectors, dtype=np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ConfigError("whitening needs at least two vectors to fit on")
        if shrink <= 0:
            raise ConfigError(f"whitening shrinkage must be > 0, got {shrink}")
        mean = x.mean(axis=0)
        z = x - mean
        eig, vt = _principal(z)
        delta = shrink * float(eig.sum()) / x.shape[1]
        if delta <= 0:
            raise ConfigError("whitening: the vectors are all identical")
        # fix each direction's sign (largest component positive) so fits are reproducible
        signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
        directions = (vt * signs[:, None]).T
        return cls(
            mean.astype(np.float32),
            directions.astype(np.float32),
            ((eig + delta) ** -0.5).astype(np.float32),
            float(delta**-0.5),
            float(shrink),
        )

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """``(n, d)`` -> ``(n, d)`` whitened, L2-normalised rows."""
        z = np.asarray(vectors, dtype=np.float32) - self.mean
        coords = z @ self.directions
        y = self.rest * z + (coords * (self.scales - self.rest)) @ self.directions.T
        return l2_normalize(y)

    def save(self, path: Path) -> None:
        """Write the arrays as one ``.npz`` (atomic)."""
        import io

        buffer = io.BytesIO()
        np.savez(
            buffer,
            mean=self.mean,
            directions=self.directions,
            scales=self.scales,
            rest=np.float32(self.rest),
            shrink=np.float32(self.shrink),
        )
        write_bytes_atomic(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> Whitening:
        """Read a file written by :meth:`save`."""
        with np.load(path) as data:
            return cls(
                data["mean"],
                data["directions"],
                data["scales"],
                float(data["rest"]),
                float(data["shrink"]),
            )
