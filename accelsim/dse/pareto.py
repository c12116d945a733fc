"""Pareto fronts of two metrics, and their plot."""
from __future__ import annotations


def front(points: list, x, y, maximize=(False, False)) -> list:
    """The points no other point dominates on (x(p), y(p)), sorted by x; ``maximize`` per metric.

    A point dominates another when it is at least as good on both metrics and better on one; of equal
    points the first is kept.
    """
    sign = [-1 if m else 1 for m in maximize]
    vals = [(sign[0] * x(p), sign[1] * y(p), i) for i, p in enumerate(points)]
    vals.sort()
    out, best_y = [], float("inf")
    for vx, vy, i in vals:
        if vy < best_y:
            out.append(points[i])
            best_y = vy
    return out


def plot(path, series: list[tuple[str, list, list, str]], xlabel: str, ylabel: str, title: str) -> None:
    """Scatter plot of labelled series ``(label, xs, ys, style)``; a style with '-' joins its points (a front)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import atomic_path
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for label, xs, ys, style in series:
        ax.plot(xs, ys, style, label=label, markersize=6, alpha=0.85)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=str(path).rsplit(".", 1)[-1] if "." in str(path) else "png")
    plt.close(fig)
