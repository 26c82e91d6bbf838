"""A figure (value, unit, same-run baseline, ratio, target, met) and the table of them."""

from __future__ import annotations

from typing import Any


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def figure(name: str, value: float, unit: str, baseline: float | None, target: str, met: bool | None) -> dict[str, Any]:
    """One figure as written to the JSON file (``met`` None: for information, no target)."""
    ratio = (value / baseline) if baseline else None
    return {"name": name, "value": round(value, 3), "unit": unit, "baseline": None if baseline is None else round(baseline, 3),
            "ratio": None if ratio is None else round(ratio, 3), "target": target, "met": met}


def print_table(figures: list[dict[str, Any]]) -> None:
    """The figures as a table on stdout."""
    if not figures:
        print("no figures")
        return
    width = max(len(f["name"]) for f in figures)
    print(f"{'figure':<{width}}  {'value':>12} {'unit':<11} {'baseline':>12} {'ratio':>8}  target / met")
    for f in figures:
        base = "" if f["baseline"] is None else f"{f['baseline']:.3f}"
        ratio = "" if f["ratio"] is None else f"{f['ratio']:.2f}"
        met = "" if f["met"] is None else ("yes" if f["met"] else "NO")
        print(f"{f['name']:<{width}}  {f['value']:>12.3f} {f['unit']:<11} {base:>12} {ratio:>8}  {f['target']} {met}")
