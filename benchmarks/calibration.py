"""Calibration against synthetic ground truth, and its speed (docs/calibration.md).

    python -m benchmarks.calibration [--scenarios A,B,C,D] [--seeds 100] [--draws 10]
                                     [--json docs/results/calibration-synthetic.json]

For each synthetic scenario below (none a preset; known parameters, including Adam,
memorisation, forgetting and update noise): one uniform run of 200 steps x 128 groups
x 16 rollouts is simulated and written as a ledger; ``calibrate`` fits it (timed: the
speed benchmark's calibrate on 200 x 128); the fitted parameters are compared with the
true ones; ``predict`` (timed: 5 schedulers x ``--seeds`` seeds over ``--draws``
parameter draws) gives each scheduler's speed-up against uniform, which is compared with
the true speed-up simulated on the true scenario with the same seeds. Compilation is
excluded from the timings (a warm-up first); wall and CPU seconds are both reported (CPU
seconds are what an idle machine's wall time would be, the compiled engine's threads
aside). Prints a table per scenario; ``--json``
writes everything.
"""

import argparse
import json
import os
import tempfile
import time

import numpy as np

from banditcurr import sims
from banditcurr.sims.calibrate import calibrate
from banditcurr.sims.ledgers import write_ledgers
from banditcurr.sims.metrics import compare
from banditcurr.sims.predict import predict
from banditcurr.sims.scenario import Scenario, chain_loadings

SCHEDULERS = ("uniform", "dump-ucb", "thompson", "learnability", "sec")
TRAINING = dict(batch_size=128, group_size=16, steps=200)


def _levels(name, n_dists, transfer, first, last, spread, prompts, **learner):
    return Scenario.from_levels(name, chain_loadings(n_dists, transfer), np.linspace(first, last, n_dists), spread,
                                prompts, 200, pool_seed=7, **TRAINING, **learner)


SCENARIOS = {  # name: (builder, the true values calibrate estimates)
    "A": lambda: _levels("synthetic-A-sgd", 8, 0.7, -1.0, 4.5, 0.8, 300, learning_rate=0.3),
    "B": lambda: _levels("synthetic-B-adam", 8, 0.6, -0.5, 4.0, 1.0, 300, learning_rate=0.03, optimizer="adam"),
    "C": lambda: _levels("synthetic-C-memorize-forget", 10, 0.5, -1.0, 4.0, 0.7, 200, learning_rate=0.4,
                         memorization=150.0, forgetting=0.005),
    "D": lambda: _levels("synthetic-D-adam-memorize-noise", 6, 0.8, 0.0, 4.0, 1.2, 400, learning_rate=0.03,
                         optimizer="adam", memorization=100.0, update_noise=0.03),
}


def truth(scenario):
    """The true values of what calibrate estimates."""
    start, count = scenario.pool_bounds()
    mean = np.array([scenario.train_difficulty[a:a + n].mean() for a, n in zip(start, count)])
    spread = np.array([scenario.train_difficulty[a:a + n].std() for a, n in zip(start, count)])
    transfer = float(scenario.loadings[1, 0] / scenario.loadings[1, 1])
    return {"optimizer": scenario.optimizer, "learning_rate": scenario.learning_rate, "transfer": transfer,
            "forgetting": scenario.forgetting, "memorization": scenario.memorization,
            "update_noise": scenario.update_noise, "difficulty_mean": mean, "difficulty_spread": spread}


def recovery(fit, true):
    """Estimated vs true values and their errors."""
    out = {}
    for key in ("learning_rate", "transfer", "forgetting", "memorization", "update_noise"):
        estimate = fit.update_noise if key == "update_noise" else fit.learner[key]
        out[key] = {"true": true[key], "estimate": float(estimate), "error": float(estimate - true[key]),
                    "standard_error": fit.standard_errors().get(key)}
    out["optimizer"] = {"true": true["optimizer"], "estimate": fit.optimizer}
    out["difficulty_mean_mae"] = float(np.abs(fit.mu - true["difficulty_mean"]).mean())
    out["difficulty_spread_mae"] = float(np.abs(fit.spread - true["difficulty_spread"]).mean())
    return out


def true_speedups(scenario, schedulers, seeds, seed):
    runs = [sims.simulate(scenario, spec, seeds=seeds, seed=seed) for spec in schedulers]
    comparison = compare(runs)
    return {spec: comparison["schedulers"][spec].get("speedup_vs_uniform") for spec in schedulers}


def study(key, seeds, draws, workdir, schedulers=SCHEDULERS):
    scenario = SCENARIOS[key]()
    run = sims.simulate(scenario, "uniform", seeds=1, seed=123, trace=True)
    ledger = write_ledgers(run, scenario, os.path.join(workdir, key))[0]
    started, cpu = time.perf_counter(), time.process_time()
    fit = calibrate(ledger)
    calibrate_seconds, calibrate_cpu = time.perf_counter() - started, time.process_time() - cpu
    cpu = time.process_time()
    prediction = predict(fit, schedulers, seeds=seeds, draws=draws, seed=1)
    predict_cpu = time.process_time() - cpu
    real = true_speedups(scenario, schedulers, seeds, seed=2)
    rows = {}
    for spec in schedulers:
        predicted, actual = prediction["schedulers"][spec]["speedup"], real[spec]
        ratio = predicted / actual if predicted and actual else None
        rows[spec] = {"predicted": predicted, "interval": prediction["schedulers"][spec]["speedup_interval"],
                      "true": actual, "ratio": ratio,
                      "within_1.2": None if ratio is None else bool(1 / 1.2 <= ratio <= 1.2)}
    return {"scenario": scenario.name, "groups": fit.groups.n_groups, "calibrate_seconds": calibrate_seconds,
            "predict_seconds": prediction["seconds"], "calibrate_cpu_seconds": calibrate_cpu,
            "predict_cpu_seconds": predict_cpu, "recovery": recovery(fit, truth(scenario)),
            "fit": fit.summary(), "speedups": rows}


def _print(result):
    rec = result["recovery"]
    print(f"\n{result['scenario']}: {result['groups']} groups; calibrate {result['calibrate_seconds']:.1f} s "
          f"({result.get('calibrate_cpu_seconds', 0):.1f} s CPU), predict {result['predict_seconds']:.1f} s "
          f"({result.get('predict_cpu_seconds', 0):.1f} s CPU)")
    print(f"  optimizer true {rec['optimizer']['true']} fitted {rec['optimizer']['estimate']}")
    for key in ("learning_rate", "transfer", "forgetting", "memorization", "update_noise"):
        r = rec[key]
        se = "" if r["standard_error"] is None else f" (se {r['standard_error']:.3g})"
        print(f"  {key:14s} true {r['true']:<8.4g} fitted {r['estimate']:<8.4g}{se}")
    print(f"  difficulty mean MAE {rec['difficulty_mean_mae']:.3f}, spread MAE {rec['difficulty_spread_mae']:.3f}")
    for spec, row in result["speedups"].items():
        fmt = lambda v: "never" if v is None else f"{v:.2f}"  # noqa: E731
        print(f"  {spec:13s} predicted {fmt(row['predicted'])} {row['interval']}  true {fmt(row['true'])}  "
              f"ratio {fmt(row['ratio'])}  within x1.2: {row['within_1.2']}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="A,B,C,D")
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--schedulers", default=",".join(SCHEDULERS), help="uniform first")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    keys = [k for k in args.scenarios.split(",") if k]
    schedulers = tuple(s for s in args.schedulers.split(",") if s)
    warm = _levels("warm-up", 3, 0.5, 0.0, 1.0, 1.0, 20, learning_rate=0.3)
    for spec in schedulers:  # compile (or load from cache) outside the timings
        sims.simulate(warm, spec, seeds=1, steps=2, trace=spec == "uniform")
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for key in keys:
            results[key] = study(key, args.seeds, args.draws, workdir, schedulers)
            _print(results[key])
            if args.json:  # after each scenario: a long study keeps what it finished
                os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
                with open(args.json, "w") as handle:
                    json.dump({"seeds": args.seeds, "draws": args.draws, "schedulers": list(schedulers),
                               "load_average": os.getloadavg(), "results": results}, handle, indent=1,
                              default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
