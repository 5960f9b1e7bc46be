"""The training report: one self-contained ``report.html`` with plots and tables.

:func:`render_report` draws, from a job's ``metrics.json`` content and its vectors:

* the training loss per effective word and the training speed (effective words/s) per round;
* the learning rate over the words processed (word2vec's linear decay, per round);
* the vocabulary's rank-frequency plot on log-log axes (Zipf's law: count ~ C / rank^s, s near 1),
  with the least-squares slope;
* a 2-D PCA projection of a few word groups (countries and their capitals, family words paired
  male-female, the numbers one to ten), words missing from the vocabulary left out;
* the evaluation table: the headline scores and the analogy accuracy of every section.

Plots are drawn by matplotlib's Agg canvas (``matplotlib.figure.Figure`` +
``FigureCanvasAgg``, no ``pyplot`` and no global backend switch) and embedded as base64 PNG, so
the file opens anywhere without network access.
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any, Sequence

import numpy as np

__all__ = ["render_report", "WORD_GROUPS"]

#: Word groups of the PCA plot: name -> list of pairs (drawn joined) or of single words.
WORD_GROUPS: dict[str, list] = {
    "countries and capitals": [("france", "paris"), ("england", "london"), ("germany", "berlin"),
                               ("italy", "rome"), ("spain", "madrid"), ("russia", "moscow"),
                               ("austria", "vienna"), ("greece", "athens"), ("egypt", "cairo"),
                               ("japan", "tokyo")],
    "family (male - female)": [("man", "woman"), ("king", "queen"), ("father", "mother"), ("son", "daughter"),
                               ("brother", "sister"), ("uncle", "aunt"), ("husband", "wife"), ("boy", "girl")],
    "numbers": ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"],
}

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float = 6.2, height: float = 3.6):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def _epoch_lines(ax, rounds: Sequence[dict]) -> None:
    for prev, cur in zip(rounds, rounds[1:]):
        if cur["epoch"] != prev["epoch"]:
            ax.axvline(cur["round"] - 0.5, color="#bbbbbb", lw=0.8, ls="--", zorder=0)


def _integer_ticks(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _plot_loss(rounds: Sequence[dict], loss_recorded: bool) -> str:
    fig, ax = _figure()
    x = [r["round"] for r in rounds]
    if loss_recorded:
        y = [r["loss"] / r["effective_words"] if r["effective_words"] else float("nan") for r in rounds]
        ax.plot(x, y, "o-", color=_COLORS[0], ms=3)
        ax.set_ylabel("loss per effective word")
    else:
        ax.text(0.5, 0.5, "loss not recorded (compute_loss=0)", ha="center", va="center", transform=ax.transAxes)
    _epoch_lines(ax, rounds)
    _integer_ticks(ax)
    ax.set_xlabel("round (dashed lines: epoch boundaries)")
    ax.set_title("Training loss per round")
    ax.grid(alpha=0.3)
    return _png(fig)


def _plot_speed(rounds: Sequence[dict]) -> str:
    fig, ax = _figure()
    x = [r["round"] for r in rounds]
    y = [r["effective_words"] / r["seconds"] / 1e3 if r["seconds"] > 0 else float("nan") for r in rounds]
    ax.bar(x, y, color=_COLORS[2], width=0.8)
    mean = sum(r["effective_words"] for r in rounds) / max(sum(r["seconds"] for r in rounds), 1e-12) / 1e3
    ax.axhline(mean, color="black", lw=1, ls=":", label=f"whole run: {mean:,.0f}k words/s")
    finite = [v for v in y if math.isfinite(v)]
    if finite:
        ax.set_ylim(0, 1.25 * max(finite))
    _epoch_lines(ax, rounds)
    _integer_ticks(ax)
    ax.set_xlabel("round")
    ax.set_ylabel("thousand effective words / s")
    seconds = [r["seconds"] for r in rounds]
    slow = int(np.argmax(seconds))
    note = ""
    if len(seconds) > 2 and seconds[slow] > 5 * float(np.median(seconds)):
        note = f" (round {rounds[slow]['round']} took {seconds[slow]:.0f} s)"
    ax.set_title("Training speed per round" + note)
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def _plot_alpha(rounds: Sequence[dict], config: dict) -> str:
    fig, ax = _figure()
    done = 0.0
    for r in rounds:
        start, end = done / 1e6, (done + r["words"]) / 1e6
        ax.plot([start, end], [r["alpha_start"], r["alpha_end"]], color=_COLORS[3], lw=2)
        done += r["words"]
    if "alpha" in config and "min_alpha" in config:
        ax.axhline(config["min_alpha"], color="#999999", lw=0.8, ls=":", label=f"min_alpha {config['min_alpha']:g}")
        ax.plot([0], [config["alpha"]], "o", color=_COLORS[3], ms=4, label=f"alpha {config['alpha']:g}")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("million words processed (all workers, all epochs)")
    ax.set_ylabel("learning rate")
    ax.set_title("Learning rate (linear decay over global progress)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    return _png(fig)


def zipf_slope(counts: np.ndarray, start: int = 10) -> float:
    """Least-squares slope of log(count) against log(rank) for ranks ``start``.. V (1-based).

    Parameters
    ----------
    counts : int64 [V]
        Counts in descending order.

    Returns
    -------
    float
        The slope (about -1 for natural-language text, Zipf's law); NaN if fewer than 3 ranks.
    """
    counts = np.asarray(counts, dtype=np.float64)
    ranks = np.arange(1, counts.size + 1, dtype=np.float64)
    keep = (ranks >= start) & (counts > 0)
    if keep.sum() < 3:
        return float("nan")
    return float(np.polyfit(np.log(ranks[keep]), np.log(counts[keep]), 1)[0])


def _plot_zipf(counts: np.ndarray, words: Sequence[str]) -> str:
    fig, ax = _figure()
    counts = np.asarray(counts, dtype=np.float64)
    ranks = np.arange(1, counts.size + 1)
    ax.loglog(ranks, counts, color=_COLORS[0], lw=1.5, label="vocabulary")
    ax.loglog(ranks, counts[0] / ranks, color="#999999", lw=1, ls="--", label="C / rank (Zipf, s = 1)")
    slope = zipf_slope(counts)
    for i in (0, 1, 2, 9, 99, 999):
        if i < len(words):
            ax.annotate(words[i], (ranks[i], counts[i]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("rank")
    ax.set_ylabel("count")
    ax.set_title(f"Vocabulary rank-frequency (fitted slope {slope:.2f})")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3, which="major")
    return _png(fig)


def _group_words(wv) -> list[tuple[str, list[tuple[str, ...]]]]:
    """Each group's items (pairs or single words) whose words are all in the vocabulary."""
    out = []
    for name, items in WORD_GROUPS.items():
        kept = []
        for item in items:
            item = (item,) if isinstance(item, str) else tuple(item)
            if all(w in wv for w in item):
                kept.append(item)
        if kept:
            out.append((name, kept))
    return out


def pca_2d(x: np.ndarray) -> np.ndarray:
    """Project the rows of ``x`` (float [n, D]) on their first two principal components.

    The rows are centred and the right singular vectors of the centred matrix give the axes
    (principal component analysis by SVD).  Returns float64 [n, 2] (zeros beyond the rank).
    """
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    out = np.zeros((x.shape[0], 2))
    k = min(2, vt.shape[0])
    out[:, :k] = centred @ vt[:k].T
    return out


def _plot_pca(wv) -> str | None:
    """One panel per word group, each with its own 2-D PCA of the group's unit vectors."""
    groups = [(name, items) for name, items in _group_words(wv) if sum(len(i) for i in items) >= 3]
    if not groups:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6 * len(groups), 4.4), layout="constrained")
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    for ax, color, (name, items) in zip(axes, _COLORS, groups):
        words = [w for item in items for w in item]
        xy = pca_2d(np.stack([wv.get_vector(w, norm=True) for w in words]))
        pos = dict(zip(words, xy))
        paired = len(items[0]) == 2
        if paired:  # first of each pair in the colour, second in black, joined by a line
            for a, b in items:
                ax.annotate("", xy=pos[b], xytext=pos[a],
                            arrowprops=dict(arrowstyle="->", color=color, lw=0.9, alpha=0.7))
            first = np.array([pos[a] for a, _ in items])
            second = np.array([pos[b] for _, b in items])
            ax.scatter(first[:, 0], first[:, 1], s=16, color=color, zorder=3)
            ax.scatter(second[:, 0], second[:, 1], s=16, color="#333333", zorder=3)
        else:  # a sequence, joined in order
            seq = np.array([pos[item[0]] for item in items])
            ax.plot(seq[:, 0], seq[:, 1], "o-", color=color, ms=4, lw=0.8, alpha=0.8)
        for w in words:
            ax.annotate(w, pos[w], fontsize=8, xytext=(3, 3), textcoords="offset points")
        left = len(WORD_GROUPS[name]) - len(items)
        ax.set_title(name + (f" ({left} {'pairs' if paired else 'words'} left out)" if left else ""), fontsize=10)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.margins(0.15)
        ax.grid(alpha=0.3)
    fig.suptitle("2-D PCA of unit word vectors, one projection per group "
                 "(arrows: country -> capital, male -> female)", fontsize=11)
    return _png(fig)


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return html.escape(str(v))
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "n/a"
        return f"{v:,.4f}" if abs(v) < 10 else f"{v:,.1f}"
    return html.escape(str(v))


def _table(rows: Sequence[tuple], head: Sequence[str] | None = None, cls: str = "") -> str:
    out = [f'<table class="{cls}">']
    if head:
        out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _evaluation_html(ev: dict) -> str:
    if not ev:
        return "<p>No evaluation ran (give <code>analogies</code> / <code>word_pairs</code> files).</p>"
    rows = []
    if "analogy_accuracy" in ev:
        rows.append(("analogy accuracy (3CosAdd)", f"{100 * ev['analogy_accuracy']:.1f}%",
                     f"{ev.get('analogy_total', 0):,} questions scored, "
                     f"{100 * ev.get('analogy_oov_ratio', 0):.1f}% skipped (unknown words)"))
    for k, v in ev.items():
        if k.endswith("_spearman"):
            stem = k[: -len("_spearman")]
            rows.append((f"{html.escape(stem)} Spearman", _fmt(v),
                         f"Pearson {_fmt(ev.get(stem + '_pearson'))}, "
                         f"{100 * (ev.get(stem + '_oov_ratio') or 0):.1f}% of pairs skipped"))
    if "oov_ratio" in ev:
        rows.append(("items skipped (all sets)", f"{100 * ev['oov_ratio']:.1f}%", ""))
    parts = [_table(rows, ("metric", "value", "detail"), "summary")]
    sections = ev.get("analogy_sections") or []
    if sections:
        srows = []
        for s in sections:
            acc = s["accuracy"] if s["total"] else float("nan")
            bar = (f'<div class="bar"><span style="width:{100 * acc:.1f}%"></span></div>'
                   if s["total"] else "")
            srows.append((html.escape(s["section"]), f"{s['correct']:,}", f"{s['total']:,}",
                          f"{100 * acc:.1f}%" if s["total"] else "n/a", bar))
        parts.append("<h3>Analogy accuracy per section</h3>")
        parts.append(_table(srows, ("section", "correct", "scored", "accuracy", ""), "sections"))
    return "".join(parts)


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px 32px; color: #222; }
h1 { margin: 0 0 4px 0; font-size: 24px; } h2 { font-size: 18px; margin: 26px 0 8px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin: 16px 0 6px; } .sub { color: #666; margin: 0 0 12px 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(620px, 1fr)); gap: 12px; }
.grid img { width: 100%; max-width: 760px; border: 1px solid #eee; }
img.wide { width: 100%; max-width: 1380px; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0 10px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; }
th { background: #f6f6f6; } td:nth-child(n+2) { font-variant-numeric: tabular-nums; }
.facts td:first-child { color: #555; }
.bar { width: 160px; height: 10px; background: #eee; } .bar span { display: block; height: 10px; background: #1f77b4; }
.cols { display: flex; gap: 40px; flex-wrap: wrap; align-items: flex-start; }
"""


def render_report(wv, metrics: dict, counts=None, title: str | None = None) -> str:
    """The training report as one HTML document (plots inline as base64 PNG).

    Parameters
    ----------
    wv : WordVectors
        The exported vectors (used for the PCA plot; any vector size).
    metrics : dict
        A job's metrics (``metrics.json``): ``round_stats`` (per round ``round``, ``epoch``,
        ``words``, ``effective_words``, ``loss``, ``seconds``, ``alpha_start``, ``alpha_end``),
        ``config``, the totals and optionally ``evaluation`` (with ``analogy_sections``).
    counts : int64 [V], optional
        Vocabulary counts in vocabulary order (default ``wv.counts``); without them the Zipf plot
        is left out.
    title : str, optional

    Returns
    -------
    str
        The HTML text (UTF-8 when written).

    Raises
    ------
    ImportError
        If matplotlib is missing.
    """
    cfg = metrics.get("config") or {}
    rounds = metrics.get("round_stats") or []
    counts = wv.counts if counts is None else counts
    model = ("skip-gram" if cfg.get("sg") else "CBOW") + (
        " + hierarchical softmax" if cfg.get("hs") else "") + (
        f" + negative sampling ({cfg.get('negative')})" if cfg.get("negative") else "")
    facts = [
        ("model", html.escape(model)),
        ("vectors", f"{len(wv):,} words x {wv.vector_size} ({html.escape(str(cfg.get('export', 'input')))})"),
        ("corpus tokens", _fmt(metrics.get("corpus_words"))),
        ("effective words (after subsampling, all epochs)", _fmt(metrics.get("effective_words"))),
        ("training time", f"{metrics.get('train_seconds', float('nan')):.1f} s"),
        ("speed", f"{metrics.get('words_per_second', 0):,.0f} effective words/s"),
        ("workers x threads", f"{metrics.get('workers', '?')} x "
                              f"{'/'.join(str(t) for t in metrics.get('threads_per_worker', [])) or '?'}"),
        ("rounds", f"{metrics.get('rounds', len(rounds))} ({metrics.get('rounds_per_epoch', '?')} per epoch)"),
    ]
    params = [(html.escape(k), _fmt(cfg[k])) for k in (
        "vector_size", "window", "min_count", "sample", "alpha", "min_alpha", "epochs", "ns_exponent",
        "sync_every", "sync_total", "merge", "seed") if k in cfg]
    plots = []
    if rounds:
        plots.append(("loss", _plot_loss(rounds, bool(cfg.get("compute_loss", 1)))))
        plots.append(("speed", _plot_speed(rounds)))
        plots.append(("learning rate", _plot_alpha(rounds, cfg)))
    if counts is not None and len(counts):
        plots.append(("Zipf", _plot_zipf(np.asarray(counts), wv.index_to_key)))
    pca = _plot_pca(wv)
    imgs = "".join(f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">' for name, data in plots)
    pca_html = (f'<img alt="PCA" class="wide" src="data:image/png;base64,{pca}">' if pca else
                "<p>Too few of the word groups' words are in the vocabulary for a PCA plot.</p>")
    missing = [w for items in WORD_GROUPS.values() for item in items
               for w in ((item,) if isinstance(item, str) else item) if w not in wv]
    if missing:
        pca_html += (f'<p class="sub">Not in the vocabulary (left out, with their pair): '
                     f'{html.escape(", ".join(missing))}</p>')
    title = title or "w2v-dist training report"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="sub">{html.escape(model)}, {len(wv):,} words x {wv.vector_size} dimensions</p>
<div class="cols">{_table(facts, None, "facts")}{_table(params, ("parameter", "value"), "params")}</div>
<h2>Training</h2>
<div class="grid">{imgs}</div>
<h2>Word groups</h2>{pca_html}
<h2>Evaluation</h2>{_evaluation_html(metrics.get("evaluation") or {})}
</body></html>
"""


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m w2v_dist.report OUTPUT_FOLDER``: (re)write ``report.html`` of an output folder.

    Reads the native vectors (memory-mapped) and ``metrics.json`` of the folder; exits 2 with a
    one-line message when they cannot be read.
    """
    import argparse
    import json
    import sys

    import fsspec

    from .errors import W2VError
    from .vectors import WordVectors, _write_atomically

    parser = argparse.ArgumentParser(prog="python -m w2v_dist.report",
                                     description="write report.html of a w2v-dist output folder")
    parser.add_argument("folder", help="output folder (path or fsspec URL)")
    args = parser.parse_args(argv)
    base = args.folder.rstrip("/")
    try:
        wv = WordVectors.load(base)
        try:
            with fsspec.open(f"{base}/metrics.json", "r") as fh:
                metrics = json.load(fh)
        except (OSError, ValueError) as exc:
            raise W2VError(f"{base}/metrics.json: cannot read: {exc}") from None
        _write_atomically(f"{base}/report.html", render_report(wv, metrics).encode("utf-8"), None)
    except W2VError as exc:
        print(f"w2v-dist: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {base}/report.html")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
