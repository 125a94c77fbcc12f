"""Pictures of an archive run: an ethogram strip per video (when each behaviour happens) and the time budget per
label (how much of the footage each behaviour takes)."""

from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ..publishing.plots import DPI, _output_path, _wrap, save_figure


def clock_time(seconds: float, _position=None) -> str:
    """`h:mm:ss` (or `m:ss` under an hour) for an axis tick."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def label_colors(labels) -> dict:
    colormap = colormaps["tab20" if len(labels) > 10 else "tab10"]
    return {label: colormap(index % colormap.N) for index, label in enumerate(labels)}


def ethogram_figure(timeline: dict, *, title: str | None = None) -> Figure:
    """
    One row per label, time on the x axis (0 to the video's duration), each segment a bar in the label's colour;
    undecodable stretches hatched in grey. `timeline` is a timeline's JSON (`Timeline.to_dict()`).
    """
    labels = list(timeline["labels"])
    colors = label_colors(labels)
    figure = Figure(figsize=(11, 1.0 + 0.3 * len(labels)), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    for row, label in enumerate(labels):
        spans = [(s["start"], s["end"] - s["start"]) for s in timeline["segments"] if s["label"] == label]
        if spans:
            axes.broken_barh(spans, (row - 0.4, 0.8), facecolors=colors[label], label=label)
    for stretch in timeline.get("undecodable", []):
        axes.axvspan(stretch["start"], stretch["end"], facecolor="none", edgecolor="gray", hatch="//", linewidth=0)
    axes.set_yticks(range(len(labels)), [_wrap(label) for label in labels])
    axes.set_ylim(len(labels) - 0.5, -0.5)
    axes.set_xlim(0.0, max(timeline["duration"], 1e-6))
    axes.xaxis.set_major_formatter(FuncFormatter(clock_time))
    axes.set_xlabel("time (h:mm:ss)" if timeline["duration"] >= 3600 else "time (m:ss)")
    axes.grid(axis="x", alpha=0.3)
    axes.set_title(title if title is not None else Path(timeline["video"]).name)
    return figure


def plot_ethogram(timeline: dict, path, *, title: str | None = None) -> Path:
    """Draw [`ethogram_figure`] to a PNG file."""
    path = _output_path(path)
    save_figure(ethogram_figure(timeline, title=title), path)
    return path


def archive_time_budget(summary: dict) -> dict[str, dict]:
    """`{label: {"seconds", "bouts", "fraction"}}` over the whole archive (fraction of all its footage)."""
    total = sum(video["duration"] for video in summary["videos"])
    budget = {label: {"seconds": 0.0, "bouts": 0} for label in summary["labels"]}
    for per_label in summary["time_budget"].values():
        for label, entry in per_label.items():
            budget[label]["seconds"] += entry["seconds"]
            budget[label]["bouts"] += entry["bouts"]
    for entry in budget.values():
        entry["fraction"] = entry["seconds"] / total if total else 0.0
    return budget


def time_budget_figure(summary: dict) -> Figure:
    """One horizontal bar per label: the fraction of the archive's footage in its segments, with hours and bouts."""
    budget = archive_time_budget(summary)
    labels = list(budget)
    colors = label_colors(labels)
    figure = Figure(figsize=(8, 1.2 + 0.35 * len(labels)), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    fractions = [budget[label]["fraction"] for label in labels]
    bars = axes.barh(range(len(labels)), fractions, color=[colors[label] for label in labels])
    for bar, label in zip(bars, labels):
        entry = budget[label]
        axes.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            f" {clock_time(entry['seconds'])}, {entry['bouts']} bout{'s' if entry['bouts'] != 1 else ''}",
            va="center",
            fontsize=8,
        )
    axes.set_yticks(range(len(labels)), [_wrap(label) for label in labels])
    axes.set_ylim(len(labels) - 0.5, -0.5)
    axes.set_xlim(0.0, min(1.0, max(0.05, max(fractions, default=0.0) * 1.35)))
    axes.set_xlabel("fraction of the footage")
    footage = clock_time(sum(video["duration"] for video in summary["videos"]))
    axes.set_title(f"Time budget per label: {len(summary['videos'])} videos, {footage} of footage")
    return figure


def plot_time_budget(summary: dict, path) -> Path:
    """Draw [`time_budget_figure`] to a PNG file."""
    path = _output_path(path)
    save_figure(time_budget_figure(summary), path)
    return path


__all__ = ["ethogram_figure", "plot_ethogram", "plot_time_budget", "time_budget_figure"]
