"""The small per-cell figure the runner logs with each SER cell (``figures/confusion.png``).

Drawn with bare matplotlib, in the worker that scored the cell; the report's publication
figures are :mod:`benchmark.report.figures`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def confusion_png(predictions: pd.DataFrame, labels: list[str], title: str) -> bytes:
    """The cell's row-normalised confusion matrix as a small PNG.

    Drawn in the worker with bare matplotlib (imshow + text, 100 dpi, no layout engine): the
    report's seaborn figure costs about 0.7 s a cell, a tenth of a log-mel fit, for a figure
    that is only looked at when one cell is in doubt. The report draws its own, from the
    predictions, for publication.
    """
    import io

    from matplotlib.figure import Figure
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(predictions["y_true"], predictions["y_pred"], labels=labels).astype(float)
    matrix = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    n = len(labels)
    fig = Figure(figsize=(1.6 + 0.55 * n, 1.2 + 0.5 * n), dpi=100)
    ax = fig.add_axes((0.3, 0.28, 0.62, 0.6))
    ax.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if matrix[i, j] > 0.6 else "black")
    ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_xlabel("predicted", fontsize=7)
    ax.set_ylabel("true", fontsize=7)
    ax.set_title(title, fontsize=6)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
