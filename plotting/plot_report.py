#!/usr/bin/python3
"""Draws a sweep report's plots from report_data.json (written by `t5scale report`).

Usage: /usr/bin/python3 plotting/plot_report.py REPORT_DATA_JSON OUT_DIR

Every number (frontiers, means over seeds, loss curves) was computed by the C++ report; this script
only draws: quality vs params / FLOPs / step time on log-x axes with the frontier and labelled
points, the loss curves of every variant, the depth-sweep curve, the scaling-law fits (from fits.json
beside REPORT_DATA_JSON: one figure per sweep axis, scaling_fit_<index>) and, per downstream task,
upstream quality against the fine-tuned score. Each figure as PNG and SVG.
Needs Debian's python3-matplotlib (run with /usr/bin/python3, not a pyenv python).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend choice)
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

PLAIN = FuncFormatter(lambda x, _: f"{x:g}")

QUALITY = "negative log-perplexity (held out; higher is better)"


def save(fig, out_dir, stem):
    # To a temporary name, then renamed: a kill while encoding leaves no torn plot under the final
    # name (the next run overwrites the temporary and renames it away).
    for ext in ("png", "svg"):
        path = os.path.join(out_dir, f"{stem}.{ext}")
        fig.savefig(path + ".tmp", format=ext, dpi=110, bbox_inches="tight")
        os.replace(path + ".tmp", path)
    plt.close(fig)


def quality_vs_cost(data, cost, out_dir):
    frontier = data["frontiers"][cost]
    points = [p for p in data["points"] if p[cost] and p[cost] > 0]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if points:
        ax.errorbar([p[cost] for p in points], [p["quality"] for p in points],
                    yerr=[p["quality_std"] for p in points], fmt="o", color="tab:blue",
                    ecolor="tab:gray", capsize=3, label="variants (mean ± std over seeds)")
        for p in points:
            ax.annotate(p["id"], (p[cost], p["quality"]), textcoords="offset points",
                        xytext=(4, 4), fontsize=7)
    front = frontier["points"]
    if front:
        ax.step([p["cost"] for p in front], [p["quality"] for p in front], where="post",
                color="tab:red", linewidth=1.5, label="Pareto frontier")
        ax.plot([p["cost"] for p in front], [p["quality"] for p in front], "s",
                markerfacecolor="none", markeredgecolor="tab:red", markersize=9)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(PLAIN)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(frontier["label"] + " (log scale)")
    ax.set_ylabel(QUALITY)
    ax.set_title(f"{data['title']}: quality vs {cost}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    save(fig, out_dir, f"quality_vs_{cost}")


def loss_curves(data, out_dir):
    """One line per shape: training loss (solid) and held-out loss (dots); rows are
    [step, mean, min, max] over the shape's seeds, drawn as the mean with a min-max band."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for curve in data["curves"]:
        train = curve["train"]
        if not train:
            continue
        label = curve["id"] + ("" if curve["status"] == "ok" else f" ({curve['status']})")
        steps = [r[0] for r in train]
        line, = ax.plot(steps, [r[1] for r in train], linewidth=1, label=label)
        if curve["seeds"] > 1:
            ax.fill_between(steps, [r[2] for r in train], [r[3] for r in train],
                            color=line.get_color(), alpha=0.2, linewidth=0)
        if curve["eval"]:
            ev = curve["eval"]
            ax.errorbar([r[0] for r in ev], [r[1] for r in ev],
                        yerr=[[r[1] - r[2] for r in ev], [r[3] - r[1] for r in ev]],
                        fmt="o--", color=line.get_color(), markersize=3, linewidth=0.8, capsize=2)
    if data.get("baseline") is not None:
        ax.axhline(data["baseline"], color="black", linestyle=":", linewidth=1,
                   label=f"unigram baseline {data['baseline']:.2f}")
    ax.set_xlabel("step")
    ax.set_ylabel("cross entropy (nats per target token)")
    ax.set_title(f"{data['title']}: training loss (lines), held-out loss (dots)"
                 + ("; bands: min-max over seeds" if any(c["seeds"] > 1 for c in data["curves"]) else ""),
                 fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    save(fig, out_dir, "loss_curves")


def depth_curve(data, out_dir):
    depth = data.get("depth")
    if not depth:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for series in depth["series"]:
        ax.errorbar(series["x"], series["y"], yerr=series["yerr"], fmt="o-", capsize=3)
        for x, y, label in zip(series["x"], series["y"], series["labels"]):
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(PLAIN)
    ax.set_xlabel(depth["x_label"] + " (log2 scale)")
    ax.set_ylabel(QUALITY)
    ax.set_title(f"{data['title']}: quality vs depth", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    save(fig, out_dir, "depth_curve")


def downstream(data, out_dir):
    """The paper's figure: upstream quality (x) against the fine-tuned score (y), one point per shape,
    labelled, with the spread over runs; hollow points: the same shape fine-tuned from random init."""
    for task, block in (data.get("downstream") or {}).items():
        points = block["points"]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        ax.errorbar([p["upstream"] for p in points], [p["score"] for p in points],
                    xerr=[p["upstream_std"] for p in points], yerr=[p["score_std"] for p in points],
                    fmt="o", color="tab:blue", ecolor="tab:gray", capsize=3,
                    label="pretrained, fine-tuned (mean ± std over runs)")
        short = short_ids([p["id"] for p in points])
        for p in points:
            ax.annotate(short[p["id"]], (p["upstream"], p["score"]), textcoords="offset points",
                        xytext=(4, 4), fontsize=7)
            if p["on_downstream_frontier"]:
                ax.plot([p["upstream"]], [p["score"]], "s", markerfacecolor="none",
                        markeredgecolor="tab:red", markersize=9)
        scratch = [p for p in points if p["scratch"] is not None]
        if scratch:
            ax.errorbar([p["upstream"] for p in scratch], [p["scratch"] for p in scratch],
                        yerr=[p["scratch_std"] for p in scratch], fmt="o", markerfacecolor="none",
                        color="tab:orange", capsize=3, label="same shape from random init")
        ax.plot([], [], "s", markerfacecolor="none", markeredgecolor="tab:red",
                label="on the downstream frontier (vs params)")
        better = "higher" if block["higher_is_better"] else "lower"
        ax.set_xlabel(QUALITY)
        ax.set_ylabel(f"{task}: test {block['metric']} ({better} is better)")
        ax.set_title(f"{data['title']}: upstream vs downstream ({task})", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        save(fig, out_dir, f"downstream_{task}")


def short_ids(ids):
    """The ids without the prefix they all share, cut at a dash ('tiny-dm128-nl1', '...-nl2' -> 'nl1', 'nl2')."""
    prefix = os.path.commonprefix(ids) if len(ids) > 1 else ""
    prefix = prefix[: prefix.rfind("-") + 1]
    return {i: i[len(prefix):] or i for i in ids}


def scaling_fits(fits, title, out_dir):
    """Per sweep axis, one panel per fit: the points (mean ± std over seeds), the fitted law with its
    bootstrap band, and the extrapolation check's held-out shape with the prediction of the fit on the
    rest; the encoder-decoder form as predicted against measured loss."""
    for axis in fits["axes"]:
        panels = axis["fits"]
        fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
        for ax, one in zip(axes[0], panels):
            fit, points, extra = one["fit"], one.get("points", []), one.get("extrapolation", {})
            short = short_ids([p["id"] for p in points])
            label = {"params": "parameters", "flops": "training FLOPs"}.get(one["x"], one["x"])
            if one["x"] == "encoder_decoder_params":
                shown = [p for p in points if p["predicted"] is not None]
                if shown:
                    ax.errorbar([p["predicted"] for p in shown], [p["loss"] for p in shown],
                                yerr=[p["loss_std"] for p in shown], fmt="o", capsize=3)
                    lo = min(min(p["predicted"], p["loss"]) for p in shown)
                    hi = max(max(p["predicted"], p["loss"]) for p in shown)
                    ax.plot([lo, hi], [lo, hi], ":", color="black", linewidth=1, label="predicted = measured")
                    for p in shown:
                        ax.annotate(short[p["id"]], (p["predicted"], p["loss"]), textcoords="offset points",
                                    xytext=(4, 4), fontsize=7)
                ax.set_xlabel("L = A N_e^-p_e N_d^-p_d + L_inf (fitted)")
            else:
                ax.errorbar([p["x"][0] for p in points], [p["loss"] for p in points],
                            yerr=[p["loss_std"] for p in points], fmt="o", color="tab:blue", capsize=3,
                            label="shapes (mean ± std over seeds)")
                for p in points:
                    ax.annotate(short[p["id"]], (p["x"][0], p["loss"]), textcoords="offset points",
                                xytext=(4, 4), fontsize=7)
                curve = [r for r in one.get("curve", []) if r[1] is not None]
                if curve:
                    par = fit["parameters"]
                    ax.plot([r[0] for r in curve], [r[1] for r in curve], color="tab:red", linewidth=1.5,
                            label=f"E + A x^-alpha, alpha = {par['alpha']['value']:.3g}")
                    band = [r for r in curve if r[2] is not None and r[3] is not None]
                    if band:
                        ax.fill_between([r[0] for r in band], [r[2] for r in band], [r[3] for r in band],
                                        color="tab:red", alpha=0.15, linewidth=0, label="95% bootstrap band")
                if extra.get("done") and extra["predicted"] is not None:
                    lo, hi = extra["predicted_lo"], extra["predicted_hi"]
                    yerr = None if lo is None else [[extra["predicted"] - lo], [hi - extra["predicted"]]]
                    ax.errorbar([extra["x"][0]], [extra["predicted"]], yerr=yerr, fmt="D", color="tab:green",
                                capsize=3, label="extrapolation: predicted from the smaller shapes")
                # The y range of the measurements (and the prediction): a steep or rising fit beyond the
                # last point must not squash them.
                ys = [p["loss"] + s * p["loss_std"] for p in points for s in (-1, 1)]
                if extra.get("done") and extra["predicted"] is not None:
                    ys.append(extra["predicted"])
                if ys:
                    pad = max(0.25 * (max(ys) - min(ys)), 0.01)
                    ax.set_ylim(min(ys) - pad, max(ys) + pad)
                ax.set_xscale("log")
                ax.set_xlabel(label + " (log scale)")
            if not fit.get("fitted"):
                ax.text(0.5, 0.5, "no fit: " + fit.get("reason", ""), transform=ax.transAxes, ha="center",
                        fontsize=7, wrap=True)
            ax.set_ylabel("held-out loss (nats per target token)")
            ax.set_title(f"{title}: {axis['axis']} vs {label}", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
        save(fig, out_dir, f"scaling_fit_{axis['index']}")


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1]) as f:
        data = json.load(f)
    os.makedirs(argv[2], exist_ok=True)
    for cost in ("params", "flops", "step_time"):
        quality_vs_cost(data, cost, argv[2])
    loss_curves(data, argv[2])
    depth_curve(data, argv[2])
    downstream(data, argv[2])


    fits_path = os.path.join(os.path.dirname(os.path.abspath(argv[1])), "fits.json")
    if os.path.exists(fits_path):
        with open(fits_path) as f:
            scaling_fits(json.load(f), data["title"], argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
