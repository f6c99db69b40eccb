"""Plot training runs' JSONL logs and print a summary table.

    banditcurr plot out/demo/*/ --kind accuracy --out accuracy.png
    banditcurr plot out/run --kind curriculum --out curriculum.png
    banditcurr plot out/demo/*/ --kind batch --out batch.png
    banditcurr plot out/run --kind time --out time.png

RUNS are run directories (log.jsonl and config.json inside) or log files (config.json
beside). Runs are grouped by a config key (--group-by, default: scheduler); a group's
seeds are averaged (line) and their range shaded.

Kinds: ``accuracy`` -- held-out greedy accuracy per distribution over steps, one
panel per distribution; ``curriculum`` -- the scheduler's sampling probability per
distribution over steps, one panel per group; ``batch`` -- the share of each step's
groups drawn from each distribution (what the run trained on; a 5-step moving
average), one panel per group; ``time`` -- the step time split into
generate / train / sync / scheduler. The table gives, per group, the final held-out
accuracy of each distribution and the mean over the run (area under the curve / steps).
"""

import json
import os

import numpy as np


def add_arguments(parser):
    parser.add_argument("runs", nargs="+", help="run directories or log.jsonl files")
    parser.add_argument("--kind", choices=("accuracy", "curriculum", "batch", "time"), default="accuracy",
                        help="what to draw (default: accuracy)")
    parser.add_argument("--group-by", default="scheduler", help="config key that groups runs (default: scheduler)")
    parser.add_argument("--out", default=None, help="image file to write (default: <first run>/<kind>.png)")
    parser.add_argument("--title", default=None, help="figure title")


def load_run(path):
    """(records, config) of a run directory or log file."""
    log = os.path.join(path, "log.jsonl") if os.path.isdir(path) else path
    if not os.path.isfile(log):
        raise SystemExit(f"banditcurr plot: error: no log at {log!r}.")
    with open(log) as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    config_path = os.path.join(os.path.dirname(log), "config.json")
    config = json.load(open(config_path)) if os.path.isfile(config_path) else {}
    return records, config


def series(records, key):
    """(steps, values) of the records that hold ``key``."""
    pairs = [(r["step"], r[key]) for r in records if key in r]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs], dtype=float)


def grouped(runs, group_by):
    groups = {}
    for records, config in runs:
        groups.setdefault(str(config.get(group_by, "?")), []).append(records)
    return groups


def _keys(runs, prefix):
    keys = []
    for records, _ in runs:
        for record in records:
            keys += [k for k in record if k.startswith(prefix) and k not in keys]
    return keys


def _mean_band(list_of_records, key):
    """Steps common to all runs, mean, min and max of ``key`` over runs."""
    curves = [dict(zip(*series(r, key))) for r in list_of_records]
    steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
    values = np.array([[c[s] for s in steps] for c in curves]) if steps else np.zeros((0, 0))
    if not steps:
        return np.array([]), np.array([]), np.array([]), np.array([])
    return np.array(steps), values.mean(0), values.min(0), values.max(0)


def summary_table(runs, group_by):
    """Markdown: per group and distribution, final held-out accuracy and its run mean."""
    groups = grouped(runs, group_by)
    names = [k.removeprefix("eval/accuracy/") for k in _keys(runs, "eval/accuracy/")]
    lines = [f"| {group_by} | seeds | " + " | ".join(names) + " | mean |",
             "| --- | --- | " + " | ".join("---" for _ in names) + " | --- |"]
    for group, members in groups.items():
        cells = []
        for name in names + [None]:
            key = f"eval/accuracy/{name}" if name else "eval/accuracy"
            steps, mean, _, _ = _mean_band(members, key)
            if steps.size == 0:
                cells.append("-")
                continue
            finals = [series(r, key)[1][-1] for r in members]
            auc = float(np.mean(mean))
            cells.append(f"{np.mean(finals):.2f} ± {np.std(finals):.2f} (avg {auc:.2f})")
        lines.append(f"| {group} | {len(members)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [load_run(p) for p in args.runs]
    groups = grouped(runs, args.group_by)
    out = args.out or os.path.join(args.runs[0] if os.path.isdir(args.runs[0]) else os.path.dirname(args.runs[0]),
                                   f"{args.kind}.png")
    colors = {g: f"C{k}" for k, g in enumerate(groups)}
    if args.kind == "accuracy":
        keys = _keys(runs, "eval/accuracy/")
        fig, axes = _panels(plt, len(keys))
        for ax, key in zip(axes, keys):
            for group, members in groups.items():
                steps, mean, low, high = _mean_band(members, key)
                ax.plot(steps, mean, color=colors[group], label=f"{group} ({len(members)})")
                ax.fill_between(steps, low, high, color=colors[group], alpha=0.15, linewidth=0)
            ax.set_title(key.removeprefix("eval/accuracy/"))
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("step")
        axes[0].set_ylabel("held-out accuracy (greedy)")
        axes[0].legend(fontsize=8)
    elif args.kind == "curriculum":
        keys = _keys(runs, "curriculum/prob/")
        fig, axes = _panels(plt, len(groups))
        for ax, (group, members) in zip(axes, groups.items()):
            stack = []
            for key in keys:
                steps, mean, _, _ = _mean_band(members, key)
                stack.append(mean)
            ax.stackplot(steps, *stack, labels=[k.removeprefix("curriculum/prob/") for k in keys])
            ax.set_title(f"{group} ({len(members)} runs)")
            ax.set_xlabel("step")
            ax.set_ylim(0, 1)
        axes[0].set_ylabel("sampling probability")
        axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    elif args.kind == "batch":
        keys = _keys(runs, "curriculum/groups/")
        fig, axes = _panels(plt, len(groups))
        for ax, (group, members) in zip(axes, groups.items()):
            counts = []
            for key in keys:
                steps, mean, _, _ = _mean_band(members, key)
                counts.append(mean)
            share = np.array(counts) / np.maximum(np.sum(counts, axis=0), 1e-12)
            kernel = np.ones(5) / 5
            smooth = [np.convolve(np.pad(row, 2, mode="edge"), kernel, mode="valid") for row in share]
            ax.stackplot(steps, *smooth, labels=[k.removeprefix("curriculum/groups/") for k in keys])
            ax.set_title(f"{group} ({len(members)} runs)")
            ax.set_xlabel("step")
            ax.set_ylim(0, 1)
        axes[0].set_ylabel("share of the batch")
        axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    else:
        parts = ("generate", "train", "sync", "scheduler")
        fig, axes = _panels(plt, len(groups))
        for ax, (group, members) in zip(axes, groups.items()):
            stack = []
            for part in parts:
                steps, mean, _, _ = _mean_band(members, f"perf/time_{part}")
                stack.append(mean)
            ax.stackplot(steps, *stack, labels=parts)
            ax.set_title(group)
            ax.set_xlabel("step")
        axes[0].set_ylabel("seconds per step")
        axes[-1].legend(fontsize=8)
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(summary_table(runs, args.group_by))
    print(f"wrote {out}")
    return 0


def _panels(plt, count):
    columns = min(count, 3) or 1
    rows = -(-max(count, 1) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False, sharey=True)
    flat = list(axes.ravel())
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:max(count, 1)]
