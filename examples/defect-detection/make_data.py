"""Generates a synthetic surface-inspection dataset: small grayscale images of a
textured surface, some with a defect.

    python make_data.py                      # 1500 images into data/ next to this script
    python make_data.py --n 3000 --seed 1 --out /tmp/surfaces

Labels: 0 = ok, 1 = scratch (a thin line segment), 2 = spot (a small blob).
Writes `images.npy` (float32, N x SIZE x SIZE) and `labels.npy` (int64, N).
The same --seed and --n always give the same images.
"""

import argparse
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = 24
CLASSES = ("ok", "scratch", "spot")
# More ok images than defects of each kind, as on a real line (but not so few
# defects that macro F1 becomes noise on a few hundred validation images).
CLASS_PROBS = (0.4, 0.3, 0.3)


def upsample_matrix(coarse: int, fine: int) -> np.ndarray:
    """Linear interpolation from `coarse` grid points to `fine` pixels, as a matrix."""
    pos = np.linspace(0, coarse - 1, fine)
    lo = np.clip(np.floor(pos).astype(int), 0, coarse - 2)
    frac = pos - lo
    m = np.zeros((fine, coarse))
    m[np.arange(fine), lo] = 1 - frac
    m[np.arange(fine), lo + 1] = frac
    return m


def backgrounds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Textured surfaces: smooth shading + an oriented grain at a random angle + sensor noise.

    The grain's random orientation is what makes flips and rotations plausible
    augmentations: a surface has no preferred direction.
    """
    up = upsample_matrix(6, SIZE)
    shading = np.einsum("ij,njk,lk->nil", up, rng.normal(0, 0.2, (n, 6, 6)), up)

    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    theta = rng.uniform(0, np.pi, n)[:, None, None]
    freq = rng.uniform(0.15, 0.45, n)[:, None, None]  # cycles per pixel
    phase = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    amp = rng.uniform(0.03, 0.15, n)[:, None, None]
    grain = amp * np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)

    noise = rng.normal(0, rng.uniform(0.04, 0.1, n)[:, None, None], (n, SIZE, SIZE))
    level = rng.uniform(0.3, 0.7, n)[:, None, None]
    return level + shading + grain + noise


def add_scratch(rng: np.random.Generator, img: np.ndarray) -> None:
    """A thin, slightly soft line segment, brighter or darker than the surface."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    p0 = rng.uniform(3, SIZE - 3, 2)
    angle = rng.uniform(0, np.pi)
    length = rng.uniform(6, 16)
    p1 = np.clip(p0 + length * np.array([np.cos(angle), np.sin(angle)]), 0, SIZE - 1)
    d = p1 - p0
    # Distance of every pixel to the segment p0-p1.
    t = np.clip(((xx - p0[0]) * d[0] + (yy - p0[1]) * d[1]) / max(d @ d, 1e-9), 0, 1)
    dist = np.hypot(xx - (p0[0] + t * d[0]), yy - (p0[1] + t * d[1]))
    width = rng.uniform(0.5, 0.9)
    strength = rng.uniform(0.45, 1.0) * rng.choice((-1.0, 1.0))
    img += strength * np.exp(-((dist / width) ** 2))


def add_spot(rng: np.random.Generator, img: np.ndarray) -> None:
    """A small round-ish blob (a pit or a deposit)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    cy, cx = rng.uniform(3, SIZE - 3, 2)
    ry, rx = rng.uniform(1.2, 2.5, 2)  # slightly elliptical
    strength = rng.uniform(0.45, 1.0) * rng.choice((-1.0, 1.0))
    img += strength * np.exp(-(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2))


def make(n: int, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    labels = rng.choice(len(CLASSES), size=n, p=CLASS_PROBS)
    images = backgrounds(rng, n)
    for i in np.flatnonzero(labels == 1):
        add_scratch(rng, images[i])
    for i in np.flatnonzero(labels == 2):
        add_spot(rng, images[i])
    return images.astype(np.float32), labels.astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1500, help="number of images (default 1500)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--out", default=os.path.join(HERE, "data"), help="output folder (default: data/ next to this script)"
    )
    args = parser.parse_args()
    if args.n < 1:
        parser.error("--n must be at least 1")

    images, labels = make(args.n, args.seed)
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "images.npy"), images)
    np.save(os.path.join(args.out, "labels.npy"), labels)
    counts = ", ".join(f"{name} {int((labels == k).sum())}" for k, name in enumerate(CLASSES))
    print(f"wrote {len(labels)} images of {SIZE}x{SIZE} to {args.out} ({counts})")


if __name__ == "__main__":
    main()
