"""A figure (value, unit, same-run baseline, ratio, target, met), the table of them, whether each met its
target (``at_least``, ``below``, ``at_most``: scaled by ``--target-scale``), and progress on stderr."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

# How much harder every target is made (``python3 -m bench --target-scale F``): a floor is multiplied by F, a
# ceiling divided by it. 1 is the targets as stated; a huge F makes every target impossible, a tiny one
# makes every one trivially met (what checks ``--check`` itself).
_TARGET_SCALE = [1.0]


def set_target_scale(scale: float) -> None:
    """Make every target ``scale`` times harder from now on (1: as stated)."""
    if not scale > 0:
        raise ValueError("the target scale is a positive number")
    _TARGET_SCALE[0] = scale


def at_least(value: float, floor: float) -> bool:
    """A target ``value >= floor`` (the floor raised by the target scale)."""
    return value >= floor * _TARGET_SCALE[0]


def below(value: float, ceiling: float) -> bool:
    """A target ``value < ceiling`` (the ceiling lowered by the target scale)."""
    return value < ceiling / _TARGET_SCALE[0]


def at_most(value: float, ceiling: float) -> bool:
    """A target ``value <= ceiling`` (the ceiling lowered by the target scale)."""
    return value <= ceiling / _TARGET_SCALE[0]


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def figure(name: str, value: float, unit: str, baseline: float | None, target: str, met: bool | None) -> dict[str, Any]:
    """One figure as written to the JSON file (``met`` None: for information, no target)."""
    ratio = (value / baseline) if baseline else None
    return {"name": name, "value": round(value, 3), "unit": unit, "baseline": None if baseline is None else round(baseline, 3),
            "ratio": None if ratio is None else round(ratio, 3), "target": target, "met": met}


def missed(figures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The figures that missed their target."""
    return [f for f in figures if f["met"] is False]


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


class Progress:
    """Which figure is running and for how long, on stderr: a line when each starts and ends, and every
    ``every`` seconds while it runs."""

    def __init__(self, total: int, out: TextIO | None = None, every: float = 30.0) -> None:
        self.total = total
        self.out = out
        self.every = every
        self.done = 0
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        print(f"bench: {text}", file=self.out or sys.stderr, flush=True)

    @contextmanager
    def stage(self, label: str) -> Iterator[None]:
        """Run one figure's measurement under ``label``."""
        self.done += 1
        step = f"[{self.done}/{self.total}] {label}"
        begun = time.monotonic()
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(self.every):
                self.say(f"{step}: running for {time.monotonic() - begun:.0f} s")

        self.say(f"{step}: started")
        ticker = threading.Thread(target=tick, name="bench-progress", daemon=True)
        ticker.start()
        try:
            yield
        except BaseException:
            self.say(f"{step}: failed after {time.monotonic() - begun:.1f} s")
            raise
        finally:
            stop.set()
            ticker.join()
        self.say(f"{step}: done in {time.monotonic() - begun:.1f} s ({time.monotonic() - self.started:.1f} s in all)")
