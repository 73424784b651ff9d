"""Datasets for the losslab command: CSV files and the bundled real data.

Rules (docs/cli.md, "Data rules"):

* Task detection (:func:`detect_task`), overridable with ``--task``: a
  non-numeric target is classification (2 distinct values: binary, more:
  multiclass); a numeric target with at most 2 distinct values is binary; an
  integer-valued, non-negative target with 3 to 20 distinct values and at
  least 5 rows per distinct value on average is multiclass; anything else is
  regression.
* Labels: classes are sorted (numerically, or as text); for a binary target
  given as text the LESS frequent class is the positive label 1 (e.g.
  Lending Club's ``bad``), so precision / recall / PR-AUC are about the rare
  class. A numeric 0/1 target keeps its values.
* Rows whose target is missing are dropped (reported in ``notes``).
* Features: a column whose present values are all numbers is numeric; its
  missing values stay NaN in ``X`` (the count is reported in ``missing``)
  and :class:`Standardizer` replaces them by the column median of the
  training rows; any other column is categorical and one-hot encoded,
  missing being its own level ``missing``; at most 50 levels per column are
  kept (the 49 most frequent plus ``other``).
* ``X`` is NOT standardized here: :class:`Standardizer` (median imputation,
  then z-scores) is fitted on each training fold only (no leakage) and
  zero-variance columns stay 0.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .csvio import Table, read_csv
from .errors import CliError

__all__ = [
    "Dataset",
    "BUNDLED",
    "add_data_arguments",
    "load_dataset",
    "load_bundled",
    "dataset_from_table",
    "detect_task",
    "Standardizer",
    "kfold_indices",
    "train_test_indices",
    "subsample_indices",
    "data_dir",
]

BUNDLED = ("ames", "lending_club", "digits", "mnist", "breast_cancer", "brain_mri")
TASKS = ("regression", "binary", "multiclass")
MAX_LEVELS = 50
# brain_mri has 353,493 pixel rows; unless --max-rows says otherwise a seeded
# sample of this many pixels is used (--max-rows 0 takes them all).
BRAIN_DEFAULT_ROWS = 20000


@dataclass
class Dataset:
    name: str
    target: str
    task: str  # "regression" | "binary" | "multiclass"
    X: np.ndarray  # (n, d) float32, one-hot done, missing imputed, NOT standardized
    y: np.ndarray  # regression: float64 raw target; classification: int64 labels 0..K-1
    classes: list | None  # class names (index = label) for classification
    feature_names: list
    y_raw: np.ndarray  # the target as read (float64 if numeric, else object)
    missing: dict  # column -> number of missing values found
    image_shape: tuple | None = None  # (8, 8) digits, (28, 28) mnist
    segmentation: bool = False  # brain_mri: per-pixel labels of an image
    notes: list = field(default_factory=list)  # what was done to the data (for the report)

    @property
    def n_classes(self):
        return None if self.classes is None else len(self.classes)

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    def subset(self, idx) -> "Dataset":
        idx = np.asarray(idx)
        return Dataset(
            name=self.name,
            target=self.target,
            task=self.task,
            X=self.X[idx],
            y=self.y[idx],
            classes=self.classes,
            feature_names=self.feature_names,
            y_raw=self.y_raw[idx],
            missing=self.missing,
            image_shape=self.image_shape,
            segmentation=self.segmentation,
            notes=list(self.notes),
        )


# --------------------------------------------------------------------------- CLI


def add_data_arguments(parser, *, target_required: bool = False) -> None:
    """DATA (optional CSV), --target, --dataset, --task, --max-rows and
    --standardize-target / --no-standardize-target."""
    parser.add_argument("data", nargs="?", metavar="DATA", help="CSV file (header row; .gz ok). Default: --dataset")
    parser.add_argument("--target", required=target_required, metavar="COL", help="target column of DATA")
    parser.add_argument(
        "--dataset",
        choices=BUNDLED,
        default=None,
        help="bundled real dataset (default ames when no DATA is given)",
    )
    parser.add_argument(
        "--task",
        choices=("auto",) + TASKS,
        default="auto",
        help="task type; auto detects it from the target (docs/cli.md)",
    )
    parser.add_argument(
        "--max-rows",
        type=int,
        default=None,
        metavar="N",
        help="use a seeded random (stratified for classification) sample of N rows; 0 = all",
    )
    parser.add_argument(
        "--standardize-target",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="regression: train on the standardized target, report metrics in original units (default on)",
    )


def load_dataset(args) -> Dataset:
    """The dataset named by parsed arguments (DATA or --dataset, default ames)."""
    data = getattr(args, "data", None)
    name = getattr(args, "dataset", None)
    target = getattr(args, "target", None)
    task = getattr(args, "task", "auto") or "auto"
    seed = int(getattr(args, "seed", 0) or 0)
    max_rows = getattr(args, "max_rows", None)
    if data is not None and name is not None:
        raise CliError(f"give either a DATA file or --dataset, not both (got {data} and --dataset {name})")
    if data is not None:
        if not target:
            try:
                cols = read_csv(data).columns
            except CliError:
                cols = None
            hint = f"; its columns are: {_list_names(cols)}" if cols else ""
            raise CliError(f"--target COL is required with a DATA file{hint}")
        table = read_csv(data)
        ds = dataset_from_table(table, target, task=task, name=os.path.basename(str(data)))
    else:
        ds = load_bundled(name or "ames", target=target, task=task)
    if max_rows is None and ds.name == "brain_mri":
        max_rows = BRAIN_DEFAULT_ROWS
    if max_rows is not None and max_rows < 0:
        raise CliError(f"--max-rows must be >= 0 (0 = all rows), got {max_rows}")
    if max_rows and max_rows < ds.n_samples:
        idx = subsample_indices(ds.n_samples, max_rows, seed, ds.y if ds.task != "regression" else None)
        note = f"used a seeded sample of {max_rows} of {ds.n_samples} rows (--max-rows)"
        ds = ds.subset(idx)
        ds.notes.append(note)
        _check_classes(ds)
    return ds


def _list_names(names, limit=40) -> str:
    names = list(names)
    s = ", ".join(names[:limit])
    return s + (f", ... ({len(names)} in all)" if len(names) > limit else "")


# --------------------------------------------------------------------------- task


def _is_integer_valued(v: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(v)) and np.all(v == np.round(v)))


def detect_task(y_raw) -> str:
    """regression / binary / multiclass from the target values (missing
    values, None or NaN, ignored). See the module docstring for the rule."""
    y_raw = np.asarray(y_raw)
    if y_raw.dtype == object:
        present = [v for v in y_raw if v is not None and not (isinstance(v, float) and np.isnan(v))]
        numeric = _as_float(present)
        if numeric is None:
            return "binary" if len(set(present)) <= 2 else "multiclass"
        y = numeric
    else:
        y = y_raw.astype(np.float64)
        y = y[~np.isnan(y)]
    distinct = np.unique(y)
    if distinct.size <= 2:
        return "binary"
    if (
        _is_integer_valued(distinct)
        and distinct.min() >= 0
        and distinct.size <= 20
        and y.size >= 5 * distinct.size
    ):
        return "multiclass"
    return "regression"


def _as_float(values):
    """float64 array, or None unless every value is a finite number (as
    Table.numeric: 'inf' in a data file is text, not a number)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    return arr if np.all(np.isfinite(arr)) else None


def _encode_labels(y_raw, task: str, target: str, source: str):
    """(labels int64, class names) for classification."""
    numeric = _as_float(list(y_raw)) if y_raw.dtype == object else y_raw.astype(np.float64)
    if numeric is not None:
        levels = np.unique(numeric)
        labels = np.searchsorted(levels, numeric).astype(np.int64)
        names = [_fmt_level(v) for v in levels]
    else:
        strs = np.asarray([str(v) for v in y_raw], dtype=object)
        levels, counts = np.unique(strs, return_counts=True)
        levels = list(levels)
        if len(levels) == 2 and counts[0] < counts[1]:
            # Binary text target: the rarer class is the positive label 1
            # (ties keep the alphabetical order).
            levels = [levels[1], levels[0]]
        index = {v: i for i, v in enumerate(levels)}
        labels = np.asarray([index[v] for v in strs], dtype=np.int64)
        names = [str(v) for v in levels]
    if len(names) < 2:
        only = names[0] if names else "none"
        raise CliError(
            f"target {target!r} of {source} has a single class ({only!r}); classification needs at least "
            f"two classes: choose another --target (or another sample: --max-rows)"
        )
    if task == "binary" and len(names) > 2:
        raise CliError(
            f"target {target!r} has {len(names)} classes, not 2; use --task multiclass (or --task auto)"
        )
    return labels, names


def _fmt_level(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _check_classes(ds: Dataset) -> None:
    if ds.task == "regression":
        return
    present = np.unique(ds.y)
    if present.size < 2:
        raise CliError(
            f"target {ds.target!r} has a single class ({ds.classes[int(present[0])]!r}) in the rows used; "
            f"use more rows (--max-rows) or another --target"
        )


# --------------------------------------------------------------------------- tables


def dataset_from_table(table: Table, target: str, *, task: str = "auto", name: str = "data") -> Dataset:
    """Builds a Dataset from a CSV table (see the module docstring)."""
    if target not in table.data:
        close = [c for c in table.columns if c.lower() == target.lower()]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise CliError(
            f"target column {target!r} is not in {table.source or name}{hint}; "
            f"available columns: {_list_names(table.columns)}"
        )
    if table.n_rows == 0:
        raise CliError(f"{table.source or name} has a header but no data rows")
    notes = []
    missing = {}
    raw = table.data[target]
    keep = np.asarray([v is not None for v in raw])
    n_missing_target = int((~keep).sum())
    if n_missing_target:
        missing[target] = n_missing_target
        notes.append(f"dropped {n_missing_target} rows whose target {target!r} is missing")
    if not keep.any():
        raise CliError(f"target column {target!r} has no values (all missing); choose another --target")
    y_num = table.numeric(target)
    if y_num is not None:
        y_raw = y_num[keep]
    else:
        y_raw = np.asarray([v for v in raw if v is not None], dtype=object)
    if task in (None, "auto"):
        task = detect_task(y_raw)
    elif task not in TASKS:
        raise CliError(f"--task {task!r} is not known; use auto, regression, binary or multiclass")
    if task == "regression":
        if y_num is None:
            example = next((v for v in y_raw if _as_float([v]) is None), y_raw[0])
            raise CliError(
                f"target {target!r} is not numeric (e.g. {example!r}) so it cannot be a regression target; "
                f"use --task binary or --task multiclass, or choose a numeric --target"
            )
        y = y_raw.astype(np.float64)
        classes = None
    else:
        y, classes = _encode_labels(y_raw, task, target, table.source or name)
    idx = np.flatnonzero(keep)
    blocks, names = [], []
    for col in table.columns:
        if col == target:
            continue
        values = table.data[col]
        num = table.numeric(col)
        if num is not None:
            num = num[idx]
            nan = np.isnan(num)
            if nan.any():
                # Imputed per training fold by Standardizer (medians of the
                # training rows only), so NaN stays here.
                missing[col] = int(nan.sum())
            blocks.append(num[:, None])
            names.append(col)
        else:
            vals = [values[i] for i in idx]
            n_miss = sum(v is None for v in vals)
            if n_miss:
                missing[col] = n_miss
            vals = ["missing" if v is None else v for v in vals]
            levels, inverse, counts = np.unique(np.asarray(vals, dtype=object), return_inverse=True, return_counts=True)
            if len(levels) > MAX_LEVELS:
                order = np.argsort(-counts, kind="stable")[: MAX_LEVELS - 1]
                keep_levels = sorted(order.tolist())
                remap = np.full(len(levels), len(keep_levels), dtype=np.int64)
                remap[keep_levels] = np.arange(len(keep_levels))
                inverse = remap[inverse]
                level_names = [str(levels[k]) for k in keep_levels] + ["other"]
                notes.append(f"column {col!r}: {len(levels)} levels, kept the {MAX_LEVELS - 1} most frequent + 'other'")
            else:
                level_names = [str(v) for v in levels]
            onehot = np.zeros((len(vals), len(level_names)), dtype=np.float64)
            onehot[np.arange(len(vals)), inverse] = 1.0
            blocks.append(onehot)
            names.extend(f"{col}={lv}" for lv in level_names)
    if missing:
        feats = {k: v for k, v in missing.items() if k != target}
        if feats:
            notes.append(
                "missing values: "
                + ", ".join(f"{k}: {v}" for k, v in feats.items())
                + " (numeric: median imputed; categorical: level 'missing')"
            )
    X = np.hstack(blocks).astype(np.float32) if blocks else np.zeros((len(idx), 0), np.float32)
    if X.shape[1] == 0:
        raise CliError(f"{table.source or name} has no feature columns besides the target {target!r}")
    return Dataset(
        name=name,
        target=target,
        task=task,
        X=X,
        y=y,
        classes=classes,
        feature_names=names,
        y_raw=y_raw,
        missing=missing,
        notes=notes,
    )


# --------------------------------------------------------------------------- bundled

_FILES = {
    "ames": "ames_housing.csv.gz",
    "lending_club": "lending_club.csv.gz",
    "digits": "digits.csv.gz",
    "mnist": "mnist_10k.csv.gz",
    "breast_cancer": "breast_cancer.csv",
    "brain_mri": "colin27_brain_axial.csv.gz",
}
_TARGETS = {
    "ames": "Sale_Price",
    "lending_club": "Class",
    "digits": "label",
    "mnist": "label",
    "breast_cancer": "diagnosis",
    "brain_mri": "brain",
}

_BC_NAMES = (
    "radius",
    "texture",
    "perimeter",
    "area",
    "smoothness",
    "compactness",
    "concavity",
    "concave points",
    "symmetry",
    "fractal dimension",
)
# scikit-learn's feature names, in the file's column order.
_BC_FEATURES = (
    [f"mean {n}" for n in _BC_NAMES] + [f"{n} error" for n in _BC_NAMES] + [f"worst {n}" for n in _BC_NAMES]
)


def data_dir() -> Path:
    """The folder of the bundled data: $LOSSLAB_DATA_DIR, else data/ of the
    source tree holding this file, else data/ in the working directory or
    one of its parents."""
    env = os.environ.get("LOSSLAB_DATA_DIR")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    # losslab/data (if a wheel ships it), then the source tree above this file.
    candidates += [p / "data" for p in here.parents]
    cwd = Path.cwd().resolve()
    candidates += [cwd / "data"] + [p / "data" for p in cwd.parents]
    for c in candidates:
        if (c / _FILES["ames"]).exists():
            return c
    raise CliError(
        "the bundled data folder was not found; run from the losslab source tree or set "
        "LOSSLAB_DATA_DIR to its data/ folder"
    )


def load_bundled(name: str, *, target: str | None = None, task: str = "auto") -> Dataset:
    """A bundled dataset: ames | lending_club | digits | mnist | breast_cancer | brain_mri.

    ames and lending_club are CSV tables (any column may be the --target);
    the others have a fixed target (label / diagnosis / brain)."""
    if name not in _FILES:
        raise CliError(f"--dataset {name!r} is not bundled; use one of: {', '.join(BUNDLED)}")
    path = data_dir() / _FILES[name]
    if name in ("ames", "lending_club"):
        return dataset_from_table(read_csv(path), target or _TARGETS[name], task=task, name=name)
    if target is not None and target != _TARGETS[name]:
        raise CliError(f"--dataset {name} has the fixed target {_TARGETS[name]!r}; drop --target {target}")
    fixed_task = "binary" if name in ("breast_cancer", "brain_mri") else "multiclass"
    if task not in (None, "auto", fixed_task):
        raise CliError(f"--dataset {name} is a {fixed_task} task; drop --task {task}")
    if name == "digits":
        arr = _loadtxt(path, skiprows=0)
        X, y = arr[:, :64], arr[:, 64].astype(np.int64)
        return _image_ds(name, X, y, (8, 8), [f"p{i}" for i in range(64)])
    if name == "mnist":
        arr = _loadtxt(path, skiprows=1)
        y, X = arr[:, 0].astype(np.int64), arr[:, 1:]
        return _image_ds(name, X, y, (28, 28), [f"p{i}" for i in range(784)])
    if name == "breast_cancer":
        arr = _loadtxt(path, skiprows=1)
        X = arr[:, :30]
        # The file says 0 = malignant; here malignant (the minority, 37 %) is
        # the positive label 1.
        y = (arr[:, 30] == 0).astype(np.int64)
        return Dataset(
            name=name,
            target="diagnosis",
            task="binary",
            X=X.astype(np.float32),
            y=y,
            classes=["benign", "malignant"],
            feature_names=list(_BC_FEATURES),
            y_raw=np.asarray(["malignant" if v else "benign" for v in y], dtype=object),
            missing={},
        )
    return _brain()


def _loadtxt(path, skiprows):
    try:
        return np.loadtxt(path, delimiter=",", skiprows=skiprows, dtype=np.float64)
    except (OSError, ValueError) as e:
        raise CliError(f"cannot read bundled file {path}: {e}") from None


def _image_ds(name, X, y, shape, names):
    return Dataset(
        name=name,
        target="label",
        task="multiclass",
        X=X.astype(np.float32),
        y=y,
        classes=[str(i) for i in range(10)],
        feature_names=names,
        y_raw=y.astype(np.float64),
        missing={},
        image_shape=shape,
    )


def _brain() -> Dataset:
    """Per-pixel brain segmentation: the features of a pixel are the 25 T1
    intensities of the 5x5 patch centred on it (zero outside the slice), in
    row-major patch order; the target is the mask (1 = brain)."""
    arr = _loadtxt(data_dir() / _FILES["brain_mri"], skiprows=1)
    k, j, i, t1, brain = (arr[:, c] for c in range(5))
    feats, labels = [], []
    for sl in np.unique(k):
        rows = k == sl
        img = np.zeros((217, 181))
        mask = np.zeros((217, 181))
        img[j[rows].astype(int), i[rows].astype(int)] = t1[rows]
        mask[j[rows].astype(int), i[rows].astype(int)] = brain[rows]
        pad = np.pad(img, 2)
        patches = np.stack(
            [pad[dj : dj + 217, di : di + 181] for dj in range(5) for di in range(5)], axis=-1
        ).reshape(-1, 25)
        feats.append(patches)
        labels.append(mask.reshape(-1))
    X = np.vstack(feats).astype(np.float32)
    y = np.concatenate(labels).astype(np.int64)
    names = [f"t1[{dj - 2:+d},{di - 2:+d}]" for dj in range(5) for di in range(5)]
    return Dataset(
        name="brain_mri",
        target="brain",
        task="binary",
        X=X,
        y=y,
        classes=["background", "brain"],
        feature_names=names,
        y_raw=y.astype(np.float64),
        missing={},
        segmentation=True,
        notes=["brain_mri: one row per pixel of 9 axial slices; features = T1 of the 5x5 patch around it"],
    )


# --------------------------------------------------------------------------- folds


class Standardizer:
    """Median imputation, then z = (x - mean) / std per column, both fitted
    on the training rows only. A missing value (NaN) becomes the column's
    training median (0 when the column has no value on the training rows).
    A column with zero variance on the training rows becomes 0 everywhere
    (scale_ holds 1 for it)."""

    def __init__(self):
        self.fill_ = None
        self.mean_ = None
        self.scale_ = None
        self.constant_ = None

    def _impute(self, X: np.ndarray) -> np.ndarray:
        nan = np.isnan(X)
        return np.where(nan, self.fill_, X) if nan.any() else X

    def fit(self, X) -> "Standardizer":
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[:, None]
        # Every column gets a fill: held-out rows may miss values that the
        # training rows all have.
        present = ~np.isnan(X)
        self.fill_ = np.zeros(X.shape[1])
        for j in range(X.shape[1]):
            col = X[present[:, j], j]
            self.fill_[j] = float(np.median(col)) if col.size else 0.0
        X = self._impute(X)
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.constant_ = ~(std > 1e-12 * np.maximum(1.0, np.abs(self.mean_)))
        self.scale_ = np.where(self.constant_, 1.0, std)
        return self

    def transform(self, X, dtype=np.float32) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        one = X.ndim == 1
        Z = (self._impute(X[:, None] if one else X) - self.mean_) / self.scale_
        # A column constant on the training rows carries nothing the model
        # could have learned: 0 on every row (also where new rows differ).
        Z[:, self.constant_] = 0.0
        return (Z[:, 0] if one else Z).astype(dtype)

    def fit_transform(self, X, dtype=np.float32) -> np.ndarray:
        return self.fit(X).transform(X, dtype)

    def inverse_transform(self, Z) -> np.ndarray:
        Z = np.asarray(Z, dtype=np.float64)
        one = Z.ndim == 1
        X = (Z[:, None] if one else Z) * self.scale_ + self.mean_
        return X[:, 0] if one else X


def _check_folds(n: int, folds: int) -> None:
    if folds < 2:
        raise CliError(f"--folds must be at least 2, got {folds}")
    if folds > n:
        raise CliError(f"--folds {folds} is more than the {n} rows; use fewer folds")


def kfold_indices(n: int, folds: int, seed: int, stratify=None):
    """[(train_idx, test_idx), ...]: a seeded shuffle dealt into ``folds``
    parts; with ``stratify`` (labels) each class is dealt separately, so every
    fold has the class shares of the whole."""
    _check_folds(n, folds)
    rng = np.random.default_rng(seed)
    assign = np.empty(n, dtype=np.int64)
    if stratify is None:
        perm = rng.permutation(n)
        assign[perm] = np.arange(n) % folds
    else:
        stratify = np.asarray(stratify)
        offset = 0
        for c in np.unique(stratify):
            members = np.flatnonzero(stratify == c)
            members = members[rng.permutation(members.size)]
            # continue dealing where the previous class stopped: balanced fold sizes
            assign[members] = (np.arange(members.size) + offset) % folds
            offset += members.size
    out = []
    for f in range(folds):
        test = np.flatnonzero(assign == f)
        train = np.flatnonzero(assign != f)
        out.append((train, test))
    return out


def train_test_indices(n: int, test_fraction: float, seed: int, stratify=None):
    """A seeded (stratified) split: (train_idx, test_idx)."""
    if n < 2:
        raise CliError(f"need at least 2 rows to split into train and test, got {n}")
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if stratify is None else [np.flatnonzero(stratify == c) for c in np.unique(stratify)]
    test = []
    for g in groups:
        g = g[rng.permutation(g.size)]
        k = int(round(test_fraction * g.size))
        if g.size >= 2:
            k = min(max(k, 1), g.size - 1)
        test.append(g[:k])
    test = np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(n), test)
    if test.size == 0 or train.size == 0:
        # Only a stratified split gets here: each class is split on its own,
        # and a class of one row goes wholly to one side.
        side = "test" if test.size == 0 else "train"
        smallest = min(g.size for g in groups)
        raise CliError(
            f"{n} rows in {len(groups)} classes (the smallest has {smallest} row(s)) leave the {side} split "
            f"empty at a test share of {test_fraction:g}: the split is stratified, so each class needs at "
            "least 2 rows to give one to each side; add rows")
    return train, test


def subsample_indices(n: int, max_rows: int, seed: int, stratify=None) -> np.ndarray:
    """A seeded sample of max_rows row indices (sorted); stratified by class
    when labels are given (each class keeps its share, at least 1 row)."""
    if max_rows >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed + 7919)
    if stratify is None:
        return np.sort(rng.choice(n, size=max_rows, replace=False))
    stratify = np.asarray(stratify)
    classes, counts = np.unique(stratify, return_counts=True)
    # Largest-remainder allocation: exactly max_rows rows (every class at
    # least one when max_rows allows it).
    quota = max_rows * counts / n
    take = np.minimum(np.maximum(np.floor(quota).astype(np.int64), 1), counts)
    order = np.argsort(-(quota - np.floor(quota)), kind="stable")
    k = 0
    while take.sum() < max_rows and k < 10 * len(classes):
        c = order[k % len(classes)]
        if take[c] < counts[c]:
            take[c] += 1
        k += 1
    while take.sum() > max_rows:
        c = int(np.argmax(take))
        take[c] -= 1
    picked = [rng.choice(np.flatnonzero(stratify == c), size=int(t), replace=False) for c, t in zip(classes, take)]
    return np.sort(np.concatenate(picked))
