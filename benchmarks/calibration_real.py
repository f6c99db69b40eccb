"""Calibration against the real runs of the LLM study (docs/llm-study.md, docs/calibration.md).

    python -m benchmarks.calibration_real [--study out/llm-study] [--seeds 100] [--draws 10]
                                          [--json docs/results/calibration-real.json]

Per family of docs/results/llm-study.json: ``calibrate`` on each uniform run's ledger
(``STUDY/<family>/uniform-<seed>/ledger``), ``predict`` the schedulers the study ran at
its arm levels (evaluating every ``eval_every`` steps, as the study did), and compare the
predicted speed-ups (median over the uniform seeds' predictions) with the measured ones:
a table, the ratio predicted / measured, and the Spearman correlation of the two over
every (family, scheduler) pair except uniform. Nothing here is tuned to the outcome: the
calibration and prediction run at their defaults.
"""

import argparse
import glob
import json
import os

import numpy as np

from banditcurr.sims.calibrate import calibrate
from banditcurr.sims.predict import predict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: the study's schedulers and arm levels (benchmarks/llm_study.py SCHEDULERS)
SPECS = {"uniform": "uniform", "dump-ucb": "dump-ucb", "thompson": "thompson@prompt",
         "learnability": "learnability@prompt", "sec": "sec"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", default=os.path.join(ROOT, "out", "llm-study"))
    parser.add_argument("--results", default=os.path.join(ROOT, "docs", "results", "llm-study.json"))
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--json", default=os.path.join(ROOT, "docs", "results", "calibration-real.json"))
    args = parser.parse_args(argv)
    with open(args.results) as handle:
        measured = json.load(handle)["families"]
    out, pairs = {}, []
    for family, study in measured.items():
        ledgers = sorted(glob.glob(os.path.join(args.study, family, "uniform-*", "ledger")))
        if not ledgers:
            print(f"{family}: no uniform ledger under {args.study}; skipped")
            continue
        names = [n for n in SPECS if n in study["schedulers"]]
        per_seed = []
        for ledger in ledgers:
            fit = calibrate(ledger)
            print(f"\n{family} {ledger}\n{fit.report()}")
            eval_every = int(fit.groups.meta.get("config", {}).get("eval_every", 1))
            prediction = predict(fit, [SPECS[n] for n in names], seeds=args.seeds, draws=args.draws,
                                 eval_every=eval_every)
            per_seed.append({"ledger": ledger, "fit": fit.summary(),
                             "speedups": {n: prediction["schedulers"][SPECS[n]] for n in names}})
        rows = {}
        for name in names:
            values = [p["speedups"][name]["speedup"] for p in per_seed]
            defined = [v for v in values if v is not None]
            predicted = float(np.median(defined)) if len(defined) > len(values) / 2 else None
            real = study["schedulers"][name]["speedup"]
            ratio = predicted / real if predicted and real else None
            rows[name] = {"predicted": predicted, "predicted_per_uniform_seed": values, "measured": real,
                          "measured_ci": study["schedulers"][name].get("speedup_ci"), "ratio": ratio,
                          "within_1.5": None if ratio is None else bool(1 / 1.5 <= ratio <= 1.5)}
            if name != "uniform" and predicted is not None and real is not None:
                pairs.append((predicted, real))
            print(f"  {name:13s} predicted {predicted}  measured {real}  ratio {ratio}")
        out[family] = {"per_uniform_seed": per_seed, "schedulers": rows}
    spearman = None
    if len(pairs) >= 3:
        from scipy.stats import spearmanr

        spearman = float(spearmanr([p for p, _ in pairs], [r for _, r in pairs]).statistic)
    print(f"\nSpearman over {len(pairs)} (family, scheduler) pairs: {spearman}")
    with open(args.json, "w") as handle:
        json.dump({"families": out, "spearman": spearman, "pairs": len(pairs), "seeds": args.seeds,
                   "draws": args.draws}, handle, indent=1, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
