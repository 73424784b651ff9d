"""``losslab eval LOSS --input a.npy --target b.npy [--param value ...] [--reduction mean] [--grad g.npy]``

Evaluates any losslab loss on arrays stored as .npy or .csv (numeric CSV,
header optional). Arrays: ``--input`` is the loss's first array, ``--target``
its array named target (else its second); every array can also be given by
its own name (``--negative n.npy`` for triplet_margin_loss, ``--var v.npy``
for gaussian_nll_loss, ``--mu`` / ``--logvar`` for vae_loss). Any other
``--name value`` is passed to the loss as a keyword argument: numbers,
true/false, text (``--mode binary``) or an array file (``--weight w.npy``).
Floating arrays are cast to the dtype of the first one (CSV is float64);
class-index arrays holding whole numbers are cast to int64.
"""

from __future__ import annotations

import numpy as np

from .csvio import load_array
from .errors import CliError
from .losses import lookup, parse_loss_spec
from .output import emit_json

ACCEPTS_EXTRA = True


def add_parser(sub):
    p = sub.add_parser(
        "eval",
        help="evaluate a loss (and its gradient) on .npy / .csv arrays",
        description=__doc__,
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    p.add_argument("loss", metavar="LOSS", help="loss name, alias or spec (huber, huber:2, cross_entropy, ...)")
    p.add_argument("--input", metavar="FILE", help="first array of the loss (predictions / logits / anchor ...)")
    p.add_argument("--target", metavar="FILE", help="the target array")
    p.add_argument("--reduction", default=None, help='"mean" (default), "sum", "none" (or the loss\'s own)')
    p.add_argument("--grad", metavar="OUT.npy", help="write the gradient w.r.t. the input(s) there")
    p.add_argument("--out", metavar="OUT.npy", help="write the loss array (reduction none) there")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def _parse_extra(extra: list) -> dict:
    out = {}
    i = 0
    while i < len(extra):
        tok = extra[i]
        if not tok.startswith("--") or len(tok) < 3:
            raise CliError(f"unexpected argument {tok!r}; loss parameters are given as --name value")
        if "=" in tok:
            key, value = tok[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(extra):
                raise CliError(f"option {tok} needs a value (e.g. {tok} 1.0)")
            key, value = tok[2:], extra[i + 1]
            i += 2
        out[key.replace("-", "_")] = value
    return out


def _value(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    if text.endswith((".npy", ".csv", ".csv.gz", ".txt")):
        return load_array(text)
    return text


def run(args) -> int:
    import losslab

    text = args.loss.strip()
    info = lookup(text)
    fn = getattr(losslab, info.name, None)
    if fn is None:  # pragma: no cover - catalog and extension out of step
        raise CliError(f"loss {info.name} is not in this build of losslab")
    kwargs = {}
    if ":" in text:
        spec = parse_loss_spec(text, require_trainable=False)
        for k, v in spec.options.items():
            if v == "auto":
                raise CliError(f"{k}=auto needs training labels; give it as a number (--{k.replace('_', '-')} 2.0)")
            kwargs[k] = v
    extra = _parse_extra(getattr(args, "extra", []) or [])
    arrays = {}
    names = info.arrays
    target_name = "target" if "target" in names else (names[1] if len(names) > 1 else None)
    if args.input:
        arrays[names[0]] = args.input
    if args.target:
        if target_name is None:
            raise CliError(f"{info.name} takes one array ({names[0]}); drop --target")
        arrays[target_name] = args.target
    for n in names:
        if n in extra:
            if n in arrays:
                raise CliError(f"array {n} given twice")
            arrays[n] = extra.pop(n)
    missing = [n for n in names if n not in arrays]
    if missing:
        flags = []
        for n in names:
            flag = "--input" if n == names[0] else ("--target" if n == target_name else f"--{n}")
            flags.append(f"{flag} {n.upper()}.npy")
        raise CliError(f"{info.name} needs the arrays {', '.join(missing)}: give {' '.join(flags)}")
    params = {p.name: p for p in info.parameters}
    for k, v in extra.items():
        kwargs[k] = _value(v)
        # A numeric parameter given a word (--delta abc) would otherwise reach
        # the binding as a str and read as "unknown option".
        d = params[k].default if k in params else None
        if isinstance(d, (int, float)) and not isinstance(d, bool) and isinstance(kwargs[k], str):
            raise CliError(f"--{k.replace('_', '-')} {v!r} is not a number; give e.g. --{k.replace('_', '-')} {d}")
    if args.reduction is not None:
        kwargs["reduction"] = args.reduction
    loaded = [load_array(arrays[n]) for n in names]
    first = loaded[0]
    ftype = first.dtype if first.dtype in (np.float32, np.float64) else np.float64
    mode = kwargs.get("mode", "multiclass")
    for k, (n, a) in enumerate(zip(names, loaded)):
        if n in info.int_arrays and (info.family != "segmentation" or mode == "multiclass"):
            if a.dtype.kind == "f":
                if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
                    raise CliError(f"{n} must hold class indices (whole numbers) for {info.name}")
                loaded[k] = a.astype(np.int64)
        elif a.dtype.kind in "fiub":
            loaded[k] = np.ascontiguousarray(a, dtype=ftype)
    for k, v in list(kwargs.items()):
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            kwargs[k] = np.ascontiguousarray(v, dtype=ftype)
    want_grad = bool(args.grad)
    try:
        res = fn(*loaded, return_grad=want_grad, **kwargs)
    except TypeError as e:
        msg = str(e)
        if "incompatible function arguments" in msg or "unexpected keyword" in msg:
            known = ", ".join(f"--{p.name.replace('_', '-')}" for p in info.parameters)
            unknown = [k for k in kwargs if k not in params] or list(kwargs)
            raise CliError(
                f"{info.name} does not accept these options ({', '.join('--' + k for k in unknown) or 'none'}); "
                f"its parameters: {known} (see `losslab explain {info.name}`)"
            ) from None
        raise
    grad = None
    if want_grad:
        res, grad = res
    value = res
    payload = {"loss": info.name, "options": {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}}
    if isinstance(value, dict):
        payload["value"] = {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else float(v)) for k, v in value.items()}
        lines = [f"{k} = {_fmt(v)}" for k, v in value.items()]
    elif isinstance(value, (tuple, list)) or (isinstance(value, np.ndarray) and value.ndim > 0):
        arrs = value if isinstance(value, (tuple, list)) else (value,)
        payload["value"] = [np.asarray(a).tolist() for a in arrs] if len(arrs) > 1 else np.asarray(arrs[0]).tolist()
        lines = [f"{info.name}: per-element loss, shape {np.asarray(a).shape}, sum {float(np.sum(a)):.8g}, "
                 f"mean {float(np.mean(a)):.8g}" for a in arrs]
        if args.out:
            np.save(args.out, np.asarray(arrs[0]))
            lines.append(f"loss array: {args.out}")
    else:
        payload["value"] = float(value)
        lines = [f"{info.name} = {float(value):.10g}"]
    if want_grad:
        paths = _save_grad(args.grad, grad, names)
        payload["grad"] = paths
        lines += [f"gradient ({n}): {p}" for n, p in paths.items()]
    if args.json:
        emit_json(payload)
    else:
        print("\n".join(lines))
    return 0


def _fmt(v):
    return f"{float(v):.10g}" if np.ndim(v) == 0 else f"array shape {np.shape(v)}"


def _save_grad(path: str, grad, names) -> dict:
    if not path.endswith(".npy"):
        path += ".npy"
    if isinstance(grad, np.ndarray):
        np.save(path, grad)
        return {names[0]: path}
    grads = list(grad)
    # Gradients come in argument order of the differentiable inputs: the
    # first goes to PATH, the others to PATH with the input's name added.
    diff_names = [n for n in names if n not in ("target", "labels", "x")] or list(names)
    out = {}
    for k, g in enumerate(grads):
        n = diff_names[k] if k < len(diff_names) else f"input{k}"
        p = path if k == 0 else path[:-4] + f"_{n}.npy"
        np.save(p, np.asarray(g))
        out[n] = p
    return out
