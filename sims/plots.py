"""curves.png: learning curves with 95% bands, and each scheduler's sampling
distribution over time. Reads the results.json document (so a saved study can be
re-plotted) and imports matplotlib only when called."""

import numpy as np


def plot_curves(results, path):
    """Write the figure of a results.json document ``results`` to ``path``.

    Top row: held-out mean accuracy vs step (mean over seeds, 95% band) and the
    zero-variance group fraction. Below: one panel per scheduler, the share of groups
    drawn from each distribution per step (stacked, averaged over seeds).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    schedulers = results["schedulers"]
    names = list(schedulers)
    distributions = results["distributions"]
    n_cols = min(3, max(1, len(names)))
    n_rows = 1 + -(-len(names) // n_cols)
    fig = plt.figure(figsize=(5.2 * n_cols, 3.4 * n_rows), constrained_layout=True)
    grid = fig.add_gridspec(n_rows, 2 * n_cols)
    ax_acc = fig.add_subplot(grid[0, :n_cols])
    ax_zero = fig.add_subplot(grid[0, n_cols:])
    palette = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    colors = lambda k: palette(k % palette.N)  # noqa: E731
    for k, name in enumerate(names):
        curve = schedulers[name]["curve"]
        steps = np.asarray(curve["steps"])
        mean = np.asarray(curve["mean_accuracy"], dtype=float)
        low = np.asarray([np.nan if v is None else v for v in curve["mean_accuracy_ci_low"]], dtype=float)
        high = np.asarray([np.nan if v is None else v for v in curve["mean_accuracy_ci_high"]], dtype=float)
        ax_acc.plot(steps, mean, color=colors(k), label=name)
        ax_acc.fill_between(steps, low, high, color=colors(k), alpha=0.25, linewidth=0)
        zero = np.asarray(curve["zero_variance_fraction"])
        ax_zero.plot(np.arange(1, zero.size + 1), zero, color=colors(k), label=name, linewidth=1)
    ax_acc.axhline(results["target"], color="grey", linestyle=":", linewidth=1, label="target")
    ax_acc.set(xlabel="step", ylabel="held-out mean accuracy", title=f"{results['scenario']}: learning curves "
               f"(mean, 95% CI over {results['settings']['seeds']} seeds)")
    ax_acc.legend(fontsize=7, loc="lower right", ncol=1 + len(names) // 7)
    ax_zero.set(xlabel="step", ylabel="fraction of groups", title="zero-variance groups (no gradient)", ylim=(0, 1))
    dist_colors = plt.get_cmap("viridis")(np.linspace(0, 1, len(distributions)))
    for k, name in enumerate(names):
        row, col = 1 + k // n_cols, k % n_cols
        ax = fig.add_subplot(grid[row, 2 * col:2 * col + 2])
        share = np.asarray(schedulers[name]["curve"]["sampling_fraction"])
        ax.stackplot(np.arange(1, share.shape[0] + 1), share.T, colors=dist_colors, labels=distributions,
                     linewidth=0)
        ax.set(xlim=(1, share.shape[0]), ylim=(0, 1), xlabel="step", ylabel="share of batch",
               title=f"{name}: sampling distribution")
        if k == len(names) - 1:
            ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5), ncol=1 + len(distributions) // 13)
    fig.savefig(path, dpi=110)
    plt.close(fig)
