"""Trains a small defect classifier (ok / scratch / spot) and tracks it with Cairn.

    python make_data.py                                  # once: writes data/
    cairn run --project defect-detection --hypothesis "mixup helps on scratches" \\
        --data data/ -- python train.py --lr 0.01 --aug mixup

Without `cairn run` the script starts its own run in project "defect-detection"
(hypothesis from $CAIRN_HYPOTHESIS, else a placeholder). Metrics are logged once per
epoch: train/loss, val/loss, val/acc, val/f1; the model is uploaded as the
artifact checkpoints/model.pkl.
"""

import os

# One thread each: runs are meant to be launched side by side, one per core, and
# BLAS thread pools would only fight over the cores. Must happen before numpy loads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import pickle
import tempfile
import time
import warnings

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, f1_score, log_loss, recall_score
from sklearn.neural_network import MLPClassifier

import cairn

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSES = ("ok", "scratch", "spot")
MODELS = {"small": (32,), "medium": (64, 32), "large": (128, 64)}
AUGS = ("none", "flip", "rotate", "noise", "mixup")
VAL_FRACTION = 0.2
# The split does not depend on --seed, so runs with different seeds are scored on
# the same validation images and their spread is the training's own variance.
SPLIT_SEED = 12345


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train an MLP defect classifier, tracked with Cairn.")
    p.add_argument("--data", default="data", help="dataset folder from make_data.py (default: data/)")
    p.add_argument("--aug", choices=AUGS, default="none", help="training-set augmentation (default: none)")
    p.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (default: 0.01)")
    p.add_argument("--model", choices=sorted(MODELS), default="medium", help="network size (default: medium)")
    p.add_argument("--epochs", type=int, default=8, help="passes over the training set (default: 8)")
    p.add_argument("--batch-size", type=int, default=64, help="minibatch size (default: 64)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: $CAIRN_SEED, else 0)")
    args = p.parse_args()
    if args.seed is None:
        env_seed = os.environ.get("CAIRN_SEED", "").strip()
        try:
            args.seed = int(env_seed) if env_seed else 0
        except ValueError:
            p.error(f"CAIRN_SEED must be an integer, got {env_seed!r}")
    if args.epochs < 1 or args.batch_size < 1 or args.lr <= 0:
        p.error("--epochs, --batch-size and --lr must be positive")
    return args


def find_data(path: str) -> str:
    """The dataset folder: as given (relative to the working directory), else next to this script."""
    for candidate in (path, os.path.join(HERE, path)):
        if os.path.isfile(os.path.join(candidate, "images.npy")):
            return candidate
    raise SystemExit(f"no dataset at {path!r}: run `python {os.path.join(HERE, 'make_data.py')}` first")


def load_split(data_dir: str):
    images = np.load(os.path.join(data_dir, "images.npy")).astype(np.float32)
    labels = np.load(os.path.join(data_dir, "labels.npy")).astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    n_val = max(1, round(VAL_FRACTION * len(labels)))
    val, train = order[:n_val], order[n_val:]
    return images[train], labels[train], images[val], labels[val]


# -- augmentations: each takes a batch of images (N x H x W) and returns a new
#    batch with labels; they are drawn afresh every epoch. ----------------------------


def aug_flip(rng, x, y):
    """Random horizontal and vertical flips (a surface has no up or left)."""
    x = x.copy()
    h = rng.random(len(x)) < 0.5
    v = rng.random(len(x)) < 0.5
    x[h] = x[h, :, ::-1]
    x[v] = x[v, ::-1, :]
    return x, y


def aug_rotate(rng, x, y):
    """Random multiples of 90 degrees, plus a random transpose: all 8 symmetries of the square."""
    x = x.copy()
    k = rng.integers(0, 4, len(x))
    for r in (1, 2, 3):
        x[k == r] = np.rot90(x[k == r], r, axes=(1, 2))
    t = rng.random(len(x)) < 0.5
    x[t] = x[t].transpose(0, 2, 1)
    return x, y


def aug_noise(rng, x, y, sigma=0.05):
    """Extra sensor noise (the images' own is 0.04-0.1), so faint defects must stand out from more of it."""
    return x + rng.normal(0.0, sigma, x.shape).astype(x.dtype), y


def aug_mixup(rng, x, y, alpha=0.4):
    """Mixup: convex blends of random pairs, lam ~ Beta(alpha, alpha).

    MLPClassifier only takes hard labels, so each blend keeps its own label with
    probability lam and takes its partner's otherwise. In expectation the
    cross-entropy is the same as with the soft label lam * y_a + (1 - lam) * y_b.
    """
    lam = rng.beta(alpha, alpha, len(x)).astype(x.dtype)
    partner = rng.permutation(len(x))
    mixed = lam[:, None, None] * x + (1 - lam[:, None, None]) * x[partner]
    keep_own = rng.random(len(x)) < lam
    return mixed, np.where(keep_own, y, y[partner])


# -- features -------------------------------------------------------------------------


def _kernel(profile) -> np.ndarray:
    """A zero-mean 5x5 kernel from a function of the offsets (dy, dx), normalized to unit L1.

    Zero mean makes the response blind to the surface's brightness and slow shading.
    """
    dy, dx = np.mgrid[-2:3, -2:3].astype(np.float64)
    k = profile(dy, dx)
    k -= k.mean()
    return k / np.abs(k).sum()


# Four thin-line detectors (0, 45, 90, 135 degrees) and one blob detector, 5 x 5 x 5.
FILTERS = np.stack(
    [
        _kernel(lambda dy, dx, t=t: np.exp(-(((dy * np.cos(t) - dx * np.sin(t)) / 0.7) ** 2)))
        for t in np.arange(4) * np.pi / 4
    ]
    + [_kernel(lambda dy, dx: np.exp(-(dy**2 + dx**2) / (2 * 1.2**2)))],
    axis=-1,
).astype(np.float32)
# Responses are pooled over a POOL_GRID x POOL_GRID grid of cells (2: quadrants).
POOL_GRID = 2


def image_features(x: np.ndarray) -> np.ndarray:
    """Images (N x H x W) -> 40 features each: a fixed filter bank, rectified, pooled per quadrant.

    A plain MLP on raw pixels has to learn a separate detector for every position a
    defect can take, and with a thousand training images it only memorizes. Pooling
    the filter responses over each quadrant gives it translation tolerance while
    keeping where and in which orientation something was seen, so flips and
    rotations still change what the network sees.
    """
    n, h, w = x.shape
    k = FILTERS.shape[0]
    oh, ow = h - k + 1, w - k + 1
    # Valid 2-D correlation with every filter as one matrix product over 5x5 patches.
    patches = sliding_window_view(x.astype(np.float32), (k, k), axis=(1, 2)).reshape(n * oh * ow, k * k)
    resp = (patches @ FILTERS.reshape(k * k, -1)).reshape(n, oh, ow, -1)
    # abs: a scratch or spot may be brighter or darker than the surface.
    resp = np.abs(resp)
    g = POOL_GRID
    qh, qw = oh // g, ow // g
    cells = resp[:, : g * qh, : g * qw].reshape(n, g, qh, g, qw, -1)
    return np.concatenate([cells.max(axis=(2, 4)).reshape(n, -1), cells.mean(axis=(2, 4)).reshape(n, -1)], axis=1)


AUGMENT = {
    "none": lambda rng, x, y: (x, y),
    "flip": aug_flip,
    "rotate": aug_rotate,
    "noise": aug_noise,
    "mixup": aug_mixup,
}


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    x_train, y_train, x_val, y_val = load_split(find_data(args.data))

    # Under `cairn run` (CAIRN_RUN_ID set) init attaches to the run it created, whose
    # project and hypothesis were given on its command line: passing ours would
    # overwrite them. Standalone, we start a run of our own.
    attached = bool(os.environ.get("CAIRN_RUN_ID", "").strip())
    run = cairn.init(
        project=None if attached else "defect-detection",
        hypothesis=None if attached else os.environ.get("CAIRN_HYPOTHESIS", "a demo run of the defect classifier"),
        config=vars(args),
    )
    cairn.seed_everything(args.seed)
    rng = np.random.default_rng(args.seed)

    # Standardize each feature with the statistics of the (unaugmented) training set.
    raw_train = image_features(x_train)
    mean, std = raw_train.mean(axis=0), raw_train.std(axis=0) + 1e-6

    def features(x):
        return (image_features(x) - mean) / std

    train_features = (raw_train - mean) / std
    val_features = features(x_val)
    labels = np.arange(len(CLASSES))
    model = MLPClassifier(
        hidden_layer_sizes=MODELS[args.model],
        solver="adam",
        learning_rate_init=args.lr,
        batch_size=args.batch_size,
        alpha=1e-4,
        random_state=args.seed,
    )

    best_acc, best_epoch = -1.0, 0
    for epoch in range(1, args.epochs + 1):
        x_aug, y_aug = AUGMENT[args.aug](rng, x_train, y_train)
        with warnings.catch_warnings():
            # partial_fit is one epoch by design; sklearn still calls it "not converged".
            warnings.simplefilter("ignore", ConvergenceWarning)
            # "none" hands back the training set itself: no need to recompute its features.
            feats = train_features if x_aug is x_train else features(x_aug)
            model.partial_fit(feats, y_aug, classes=labels)
        proba = model.predict_proba(val_features)
        pred = labels[proba.argmax(axis=1)]
        metrics = {
            "train/loss": model.loss_,
            "val/loss": log_loss(y_val, proba, labels=labels),
            "val/acc": accuracy_score(y_val, pred),
            "val/f1": f1_score(y_val, pred, average="macro", labels=labels, zero_division=0),
        }
        run.log(metrics, step=epoch)
        print(
            f"epoch {epoch:2d}  train/loss {metrics['train/loss']:.3f}  val/loss {metrics['val/loss']:.3f}  "
            f"val/acc {metrics['val/acc']:.3f}  val/f1 {metrics['val/f1']:.3f}"
        )
        if metrics["val/acc"] > best_acc:
            best_acc, best_epoch = metrics["val/acc"], epoch

    # Final values that are not per-epoch curves: the best epoch and how well each
    # kind of defect is found by the final model.
    recalls = recall_score(y_val, pred, average=None, labels=labels, zero_division=0)
    run.summary["best/val_acc"] = best_acc
    run.summary["best/epoch"] = best_epoch
    for name, r in zip(CLASSES, recalls):
        run.summary[f"val/recall_{name}"] = float(r)

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.pkl")
        with open(path, "wb") as f:
            # The normalization travels with the model: it is needed to use it.
            pickle.dump({"model": model, "mean": mean, "std": std, "classes": CLASSES, "config": vars(args)}, f)
        run.log_artifact(path, name="checkpoints/model.pkl")

    run.summary["train_seconds"] = time.perf_counter() - started
    run.finish()
    print(f"run {run.short_id}: val/acc {metrics['val/acc']:.3f} (best {best_acc:.3f} at epoch {best_epoch})")


if __name__ == "__main__":
    main()
