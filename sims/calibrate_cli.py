"""Fit the simulated learner to a run's rollout ledger (``banditcurr calibrate``).

Example:
  banditcurr calibrate out/run/ledger --out scenario.json --plot fit.png
  banditcurr simulate --scenario scenario.json --schedulers uniform,dump-ucb

Maximum likelihood of the logged group outcomes with the learner replayed through the
logged batches (docs/calibration.md): per-prompt difficulty (random effects per
distribution), chain transfer, learning rate (plain or Adam step), forgetting,
memorisation, then the update-noise scale. Prints the fit and its goodness of fit
(log-likelihood against free per-step pass rates); --plot draws each distribution's
pass rate over steps, logged against the replayed model and against fresh simulations
of the calibrated scenario. A ledger that cannot identify the learner (missing columns,
NaN rewards, one step, no mixed group) is refused with the reason; exit code 2.
"""

import numpy as np

from banditcurr._params import add_option, argument, check_arguments

from ._options import report
from .scenario import OPTIMIZERS

SIMULATED_SEEDS = argument("simulated_seeds", "int", low=1, doc="seeds of the fresh simulations drawn in --plot")


def add_arguments(parser):
    parser.add_argument("ledger", help="ledger directory of the run (banditcurr.ledger; ideally a uniform run)")
    parser.add_argument("--out", required=True, metavar="SCENARIO.json",
                        help="write the calibrated scenario here (banditcurr simulate --scenario SCENARIO.json)")
    parser.add_argument("--plot", default=None, metavar="FIT.png",
                        help="plot logged vs replayed vs simulated pass rates per distribution")
    parser.add_argument("--optimizers", default=",".join(OPTIMIZERS),
                        help=f"update rules to fit, the likelier is kept: comma-separated, any of "
                             f"{', '.join(OPTIMIZERS)} (default {','.join(OPTIMIZERS)})")
    parser.add_argument("--no-memorization", action="store_true", help="fix the memorisation rate at 0")
    parser.add_argument("--no-forgetting", action="store_true", help="fix forgetting at 0")
    add_option(parser, SIMULATED_SEEDS, default=20)


def pass_rate_curves(fit, bins=25, seeds=20):
    """Per distribution and step bin: logged pass rate, the replayed model's expected
    pass rate, and the mean pass rate of ``seeds`` fresh uniform runs of the calibrated
    scenario. Returns (bin centres (K,), logged (C, K), model (C, K), simulated (C, K))."""
    from .calibrate import expected_pass_rates
    from .simulate import simulate

    g, obj = fit.groups, fit.objective
    obj.nll(fit.x)
    model, _, _ = expected_pass_rates(obj, fit.x)
    step_of = np.repeat(np.arange(g.n_steps), np.diff(g.step_offsets))
    edges = np.linspace(0, g.n_steps, min(bins, g.n_steps) + 1)
    bin_of = np.clip(np.searchsorted(edges, step_of, side="right") - 1, 0, edges.size - 2)
    n_dists, n_bins = len(g.distributions), edges.size - 1
    cells = g.dist * n_bins + bin_of

    def per_cell(weights):
        return np.bincount(cells, weights, minlength=n_dists * n_bins).reshape(n_dists, n_bins)

    with np.errstate(invalid="ignore", divide="ignore"):
        rollouts = per_cell(g.size.astype(float))
        logged = per_cell(g.successes.astype(float)) / rollouts
        replayed = per_cell(g.size * model) / rollouts
        run = simulate(fit.scenario, "uniform", seeds=seeds, trace=True)
        trace = run.trace
        used = trace["prompt"] >= 0
        sim_dist = fit.scenario.train_dist[np.where(used, trace["prompt"], 0)]
        sim_bin = np.clip(np.searchsorted(edges, np.arange(trace["prompt"].shape[1]), side="right") - 1, 0, n_bins - 1)
        sim_cells = (sim_dist * n_bins + sim_bin[None, :, None])[used]
        wins = np.bincount(sim_cells, trace["successes"][used], minlength=n_dists * n_bins)
        tries = np.bincount(sim_cells, trace["size"][used], minlength=n_dists * n_bins)
        simulated = (wins / tries).reshape(n_dists, n_bins)
    centres = 0.5 * (edges[:-1] + edges[1:]) + g.steps[0]
    return centres, logged, replayed, simulated


def plot_fit(fit, path, seeds=20):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centres, logged, replayed, simulated = pass_rate_curves(fit, seeds=seeds)
    n = len(fit.groups.distributions)
    cols = min(4, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False, sharex=True, sharey=True)
    for d, name in enumerate(fit.groups.distributions):
        ax = axes[d // cols][d % cols]
        ax.plot(centres, logged[d], "o", ms=3, color="k", label="logged")
        ax.plot(centres, replayed[d], color="C0", label="model, replayed")
        ax.plot(centres, simulated[d], color="C3", ls="--", label=f"simulated ({seeds} seeds)")
        ax.set_title(name, fontsize=9)
        ax.set_ylim(0, 1)
    for d in range(n, rows * cols):
        axes[d // cols][d % cols].axis("off")
    axes[0][0].legend(fontsize=7)
    s = fit.summary()
    fig.suptitle(f"training pass rate per distribution; log-lik {s['loglik']:.0f} vs free per-step rates "
                 f"{s['baseline_loglik']:.0f}", fontsize=9)
    fig.supxlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args):
    from .calibrate import calibrate

    optimizers = tuple(o.strip() for o in args.optimizers.split(",") if o.strip())
    try:
        check_arguments("banditcurr calibrate", (SIMULATED_SEEDS,), {"simulated_seeds": args.simulated_seeds})
        fit = calibrate(args.ledger, optimizers=optimizers, memorization=not args.no_memorization,
                        forgetting=not args.no_forgetting, uncertainty=True)
    except (TypeError, ValueError) as error:  # a CalibrationError is a ValueError
        return report(error, args.ledger)
    print(fit.report())
    fit.scenario.save(args.out)
    print(f"wrote {args.out} ({fit.scenario.n_prompts} training prompts, B={fit.scenario.batch_size}, "
          f"G={fit.scenario.group_size}, T={fit.scenario.steps})")
    if args.plot:
        plot_fit(fit, args.plot, seeds=args.simulated_seeds)
        print(f"wrote {args.plot}")
    return 0
