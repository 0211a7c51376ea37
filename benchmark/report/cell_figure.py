"""The small per-cell figure the runner logs with each SER cell (``figures/confusion.png``).

Drawn with Pillow, in the worker that scored the cell; the report's publication figures are
:mod:`benchmark.report.figures`.
"""
from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
import pandas as pd

PAD = 6          # pixels around the grid, its labels and the title
CELL_H = 24      # a matrix cell's height; its width fits the widest label or value
FONT_SIZE = 12
DARK = 0.6       # values above this are written in white (the cell's blue is dark)


@lru_cache(maxsize=1)
def _font():
    from PIL import ImageFont

    return ImageFont.load_default(size=FONT_SIZE)   # Pillow's own FreeType font: nothing to find on the machine


def _blues(values: np.ndarray) -> np.ndarray:
    """matplotlib's "Blues" colormap on [0, 1] as 8-bit RGB (the report's confusion figures use it too)."""
    from matplotlib import colormaps

    return (colormaps["Blues"](np.clip(values, 0.0, 1.0))[..., :3] * 255).round().astype(np.uint8)


def confusion_png(predictions: pd.DataFrame, labels: list[str], title: str) -> bytes:
    """The cell's row-normalised confusion matrix as a small PNG (same input, same bytes).

    Drawn with Pillow rectangles and text: the earlier matplotlib figure (imshow + text, no layout
    engine) took about 65 ms a cell, some 17 CPU s of the default suite's workers, for a figure that is only
    looked at when one cell is in doubt. The report draws its own, from the predictions, for publication.
    """
    from PIL import Image, ImageDraw

    from benchmark.metrics import row_normalised_confusion

    matrix = row_normalised_confusion(predictions["y_true"], predictions["y_pred"], labels)
    n = len(labels)
    font = _font()

    def width(text: str) -> int:
        return int(np.ceil(font.getlength(text)))

    cell_w = max(width("0.00"), *(width(label) for label in labels)) + PAD
    label_w = max(width("true"), *(width(label) for label in labels)) + PAD
    line = FONT_SIZE + 4
    grid_x, grid_y = PAD + label_w, PAD + 2 * line          # title, then "predicted"
    size = (max(grid_x + n * cell_w + PAD, 2 * PAD + width(title)), grid_y + n * CELL_H + line + PAD)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.text((PAD, PAD), title, fill="black", font=font)
    draw.text((grid_x + n * cell_w / 2, PAD + line), "predicted", fill="black", font=font, anchor="ma")
    draw.text((PAD, grid_y - line), "true", fill="black", font=font)
    colours = _blues(matrix)
    for i, label in enumerate(labels):
        top = grid_y + i * CELL_H
        draw.text((grid_x - PAD, top + CELL_H / 2), label, fill="black", font=font, anchor="rm")
        draw.text((grid_x + i * cell_w + cell_w / 2, grid_y + n * CELL_H + 3), label, fill="black", font=font,
                  anchor="ma")
        for j in range(n):
            left = grid_x + j * cell_w
            draw.rectangle((left, top, left + cell_w - 1, top + CELL_H - 1), fill=tuple(int(c) for c in colours[i, j]))
            draw.text((left + cell_w / 2, top + CELL_H / 2), f"{matrix[i, j]:.2f}", font=font, anchor="mm",
                      fill="white" if matrix[i, j] > DARK else "black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
