"""``losslab explain NAME [--json]``: formula, parameters, when to use a loss and how its gradient behaves."""

from __future__ import annotations

import textwrap

from .losses import SPECS, lookup
from .output import emit_json


def add_parser(sub):
    p = sub.add_parser("explain", help="explain one loss: formula, parameters, rules of practice", description=__doc__)
    p.add_argument("name", metavar="NAME", help="loss name, alias or spec (e.g. huber, mae, huber_loss)")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def _specs_for(name: str) -> list:
    out = []
    for short, s in SPECS.items():
        if s.loss == name:
            params = "".join(f"[:{p}]" for p in s.params)
            out.append(short + params)
    return out


def explain_text(info, width: int = 88) -> str:
    def block(label, text):
        return textwrap.fill(
            text, width=width, initial_indent=f"{label:<12}", subsequent_indent=" " * 12, break_on_hyphens=False
        )

    specs = _specs_for(info.name)
    head = f"{info.name}  ({info.family})"
    lines = [head, "=" * len(head), info.summary, ""]
    if info.aliases:
        lines.append(block("aliases:", ", ".join(info.aliases)))
    lines.append(block("spec:", ", ".join(specs) + "  (train / compare)" if specs else "- (use `losslab eval`)"))
    lines.append(block("formula:", info.formula))
    lines.append("parameters:")
    for p in info.parameters:
        lines.append(textwrap.fill(f"{p.name} = {p.default!r}: {p.meaning}", width=width, initial_indent="  ", subsequent_indent="    "))
    lines.append(block("use when:", info.use_when))
    lines.append(block("avoid when:", info.avoid_when))
    lines.append(block("gradient:", info.gradient_behaviour))
    lines.append(block("pytorch:", info.torch_equivalent))
    lines.append(block("example:", info.spec_example))
    return "\n".join(lines)


def run(args) -> int:
    info = lookup(args.name)
    if args.json:
        emit_json(
            {
                "name": info.name,
                "aliases": list(info.aliases),
                "family": info.family,
                "summary": info.summary,
                "formula": info.formula,
                "parameters": [{"name": p.name, "default": p.default, "meaning": p.meaning} for p in info.parameters],
                "use_when": info.use_when,
                "avoid_when": info.avoid_when,
                "gradient_behaviour": info.gradient_behaviour,
                "torch_equivalent": info.torch_equivalent,
                "spec_example": info.spec_example,
                "specs": _specs_for(info.name),
                "trainable": info.trainable,
            }
        )
        return 0
    print(explain_text(info))
    return 0
