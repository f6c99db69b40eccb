"""Calibration against the real runs of the LLM study (docs/llm-study.md, docs/calibration.md).

    python -m benchmarks.calibration_real [--study out/llm-study] [--seeds 100] [--draws 10]
                                          [--json docs/results/calibration-real.json] [--max-ledgers N]
                                          [--compare-only]

Per family of docs/results/llm-study.json: ``calibrate`` on each uniform run's ledger
(``STUDY/<family>/uniform-<seed>/ledger``), ``predict`` the schedulers the study ran at
its arm levels (evaluating every ``eval_every`` steps, as the study did), and compare the
predicted speed-ups (median over the uniform seeds' predictions) with the measured ones:
a table, the ratio predicted / measured, and the Spearman correlation of the two over
every (family, scheduler) pair except uniform. Nothing here is tuned to the outcome: the
calibration and prediction run at their defaults. The predictions need only the uniform
ledgers; when the study's results file is not there yet they are saved alone, and
``--compare-only`` later adds the comparison without predicting again.
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
    parser.add_argument("--max-ledgers", type=int, default=None,
                        help="calibrate on the first N uniform seeds of each family only (default: all)")
    parser.add_argument("--compare-only", action="store_true", help="reuse the predictions saved in --json")
    args = parser.parse_args(argv)
    measured = {}
    if os.path.isfile(args.results):
        with open(args.results) as handle:
            measured = json.load(handle)["families"]
    if args.compare_only:
        with open(args.json) as handle:
            predictions = {f: v["per_uniform_seed"] for f, v in json.load(handle)["families"].items()}
    else:
        predictions = {}
        for family in sorted(os.listdir(args.study)):
            ledgers = sorted(glob.glob(os.path.join(args.study, family, "uniform-*", "ledger")))[:args.max_ledgers]
            if ledgers:
                predictions[family] = [_predict(ledger, family, args) for ledger in ledgers]
    out, pairs = {}, []
    for family, per_seed in predictions.items():
        study = measured.get(family, {"schedulers": {}})
        rows = {}
        for name in SPECS:
            values = [p["speedups"][name]["speedup"] for p in per_seed]
            defined = [v for v in values if v is not None]
            predicted = float(np.median(defined)) if len(defined) > len(values) / 2 else None
            real = study["schedulers"].get(name, {}).get("speedup")
            ratio = predicted / real if predicted and real else None
            rows[name] = {"predicted": predicted, "predicted_per_uniform_seed": values, "measured": real,
                          "measured_ci": study["schedulers"].get(name, {}).get("speedup_ci"), "ratio": ratio,
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


def _predict(ledger, family, args):
    fit = calibrate(ledger)
    print(f"\n{family} {ledger}\n{fit.report()}", flush=True)
    eval_every = int(fit.groups.meta.get("config", {}).get("eval_every", 1))
    prediction = predict(fit, list(SPECS.values()), seeds=args.seeds, draws=args.draws, eval_every=eval_every)
    return {"ledger": ledger, "fit": fit.summary(), "eval_every": eval_every,
            "speedups": {n: prediction["schedulers"][spec] for n, spec in SPECS.items()}}


if __name__ == "__main__":
    raise SystemExit(main())
