"""Charts drawn on the server as SVG documents with matplotlib: stacked bars and a line over
labelled periods, colour-blind-safe, text kept as text, each drawing made once per distinct
data. Pages show them as images whose alt text says what they show."""

from __future__ import annotations

import io
import json
import threading

import numpy as np

# Okabe-Ito: safe for the common colour-vision deficiencies, one colour per series.
COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999"]
_DRAWN: dict[str, str] = {}  # what was drawn (JSON) -> SVG, most recent last
_DRAWN_MAX = 64
_LOCK = threading.Lock()  # pyplot keeps global state


def stacked_bars(labels: list[str], series: dict[str, list[float]], title: str, ylabel: str) -> str:
    """Bars per label, one stacked segment per series, legend beside."""
    return _cached(["bars", labels, series, title, ylabel])


def line(labels: list[str], values: list[float], title: str, ylabel: str) -> str:
    """One line over the labels."""
    return _cached(["line", labels, values, title, ylabel])


def _cached(spec: list) -> str:
    key = json.dumps(spec, sort_keys=True)
    with _LOCK:
        svg = _DRAWN.pop(key, None)
        if svg is None:
            svg = _draw(*spec)
        _DRAWN[key] = svg
        while len(_DRAWN) > _DRAWN_MAX:
            _DRAWN.pop(next(iter(_DRAWN)))
    return svg


def _draw(kind: str, labels: list[str], data, title: str, ylabel: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "policy-kb", "font.size": 9})
    fig, ax = plt.subplots(figsize=(9, 3.2), dpi=100)
    x = np.arange(len(labels))
    if kind == "line":
        ax.plot(x, data, color=COLOURS[5], marker="o", markersize=3)
    else:
        bottom = np.zeros(len(labels))
        for (name, counts), colour in zip(data.items(), COLOURS, strict=False):
            ax.bar(x, counts, bottom=bottom, label=name.replace("_", " "), color=colour, width=0.8)
            bottom += np.asarray(counts, dtype=float)
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.02))
    ax.set_ylabel(ylabel)
    step = max(1, len(labels) // 12)
    ax.set_xticks(x[::step], labels[::step], rotation=45, ha="right")
    ax.set_title(title, loc="left", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()
