"""``losslab list [--family F] [--json]``: every loss losslab has."""

from __future__ import annotations

from .errors import CliError
from .losses import SPECS, catalog, engine_trainable, families
from .output import emit_json, print_table


def spec_of(name: str) -> str:
    """The train/compare spec short name of a losslab loss ('' if none)."""
    for short, info in SPECS.items():
        if info.loss == name and not info.defaults.get("weight") and short != "weighted_bce":
            return short
    return ""


def add_parser(sub):
    p = sub.add_parser("list", help="list every loss (name, family, description)", description=__doc__)
    p.add_argument("--family", help=f"only this family ({', '.join(families())})")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def run(args) -> int:
    trainable = engine_trainable()
    items = catalog()
    if args.family:
        fam = args.family.lower()
        if fam not in families():
            raise CliError(f"--family {args.family!r} is not known; use one of: {', '.join(families())}")
        items = [i for i in items if i.family == fam]
    rows = [
        {
            "name": i.name,
            "family": i.family,
            "spec": spec_of(i.name) or "-",
            "trainable": i.name in trainable,  # by this build's engine (train / compare)
            "aliases": list(i.aliases),
            "description": i.summary,
        }
        for i in items
    ]
    if args.json:
        emit_json({"losses": rows})
        return 0
    print_table(
        [dict(r, description=r["description"]) for r in rows],
        ["name", "family", "spec", "description"],
        title=f"{len(rows)} losses (spec = name for train/compare --loss(es); `losslab explain NAME` for details)",
    )
    return 0
