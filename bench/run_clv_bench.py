"""Side-by-side benchmark of `rapport clv fit` against lifetimes 0.11.3.

    python bench/run_clv_bench.py --customers 100000 --runs 3 [--models bg-nbd,mbg-nbd,pareto-nbd]
        [--also before=/path/to/another/rapport] [--skip-lifetimes]
    python bench/run_clv_bench.py --summary real.csv --time-unit days --models bg-nbd,mbg-nbd,pareto-nbd

With --summary, an existing summary (customer_id, frequency, recency, T: `rapport
summary` output) is fitted instead of the simulated one.

Simulates customers from known BG/NBD parameters (reproducible from the seed), writes
one summary CSV, fits it with lifetimes (BetaGeoFitter / ParetoNBDFitter, defaults) and
with Rapport, each in its own process, and reports median wall time, peak RSS (from
/usr/bin/time), the log-likelihood each reaches (evaluated with lifetimes' own
per-customer likelihood, unscaled), and the time for Rapport's predictions.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys

import numpy as np

root = pathlib.Path(__file__).resolve().parents[1]
out_dir = root / "bench" / "out"
out_dir.mkdir(parents=True, exist_ok=True)
parser = argparse.ArgumentParser()
parser.add_argument("--customers", type=int, default=100_000)
parser.add_argument("--runs", type=int, default=3)
parser.add_argument("--models", default="bg-nbd,pareto-nbd")
parser.add_argument("--lifetimes-timeout", type=int, default=1200)
parser.add_argument("--also", action="append", default=[], metavar="NAME=BINARY",
                    help="another rapport binary to time side by side (e.g. before=/path/to/old/rapport)")
parser.add_argument("--skip-lifetimes", action="store_true", help="time only the rapport binaries")
parser.add_argument("--summary", help="fit this summary CSV instead of the simulated one")
parser.add_argument("--time-unit", default="weeks", help="unit of the summary's recency and T")
args = parser.parse_args()

summary = pathlib.Path(args.summary) if args.summary else out_dir / f"clv_summary_{args.customers}.csv"
if not summary.exists():
    rng = np.random.default_rng(2005)
    n = args.customers
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    T = np.round(rng.uniform(26, 52, n), 2)
    purchases_if_alive = rng.poisson(lam * T)
    purchases_before_dropout = rng.geometric(p)
    x = np.minimum(purchases_if_alive, purchases_before_dropout)
    # Given n arrivals in [0, T], the x-th is T·Beta(x, n − x + 1).
    t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(purchases_if_alive - x + 1, 1)), 0.0)
    t_x = np.minimum(np.round(t_x, 2), T)
    with open(summary, "w") as handle:
        handle.write("customer_id,frequency,recency,T\n")
        for i in range(n):
            handle.write(f"{i},{x[i]},{t_x[i]:.2f},{T[i]:.2f}\n")

LIFETIMES = """
import sys, time, json
import numpy as np, pandas as pd
from lifetimes import BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
d = pd.read_csv(sys.argv[2])
model = sys.argv[1]
fitter = {"bg-nbd": BetaGeoFitter, "mbg-nbd": ModifiedBetaGeoFitter, "pareto-nbd": ParetoNBDFitter}[model]()
fitter.fit(d["frequency"], d["recency"], d["T"])
params = fitter.params_
if model in ("bg-nbd", "mbg-nbd"):
    names = ["r", "alpha", "a", "b"]
    values = [params[k] for k in names]
    ll = -type(fitter)._negative_log_likelihood(np.log(values), d["frequency"].values, d["recency"].values, d["T"].values, np.ones(len(d)), 0.0) * len(d)
else:
    names = ["r", "alpha", "s", "beta"]
    values = [params[k] for k in names]
    ll = ParetoNBDFitter._conditional_log_likelihood(values, d["frequency"].values, d["recency"].values, d["T"].values).sum()
print(json.dumps({"params": dict(zip(names, values)), "log_likelihood": float(ll)}))
"""

def timed(command, timeout=None, may_fail=False):
    try:
        result = subprocess.run(["/usr/bin/time", "-f", "%e %M"] + command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if result.returncode != 0:
        if may_fail:
            print(f"<!-- {command[0]} failed: {result.stderr.strip().splitlines()[-3] if result.stderr.strip() else ''} -->")
            return None
        raise SystemExit(f"{command} failed: {result.stderr[-2000:]}")
    seconds, kib = result.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kib) / 1024, result.stdout

rapport = str(root / "target/release/rapport")
print(f"summary={summary.name} customers={sum(1 for _ in open(summary)) - 1} time unit={args.time_unit} runs={args.runs}")
print("| model | tool | median fit (s) | peak RSS (MiB) | log-likelihood | speed-up |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
binaries = {"rapport": rapport}
binaries.update(extra.split("=", 1) for extra in args.also)
for model in args.models.split(","):
    ours = {name: [] for name in binaries}
    theirs = []
    for _ in range(args.runs):
        for name, binary in binaries.items():
            ours[name].append(timed([binary, "clv", "fit", "-q", "--model", model, "--summary", str(summary), "--time-unit", args.time_unit, "--save", str(out_dir / f"{model}-{name}.json")]))
        if not args.skip_lifetimes:
            theirs.append(timed([sys.executable, "-c", LIFETIMES, model, str(summary)], timeout=args.lifetimes_timeout, may_fail=True))
    ours_time = statistics.median(run[0] for run in ours["rapport"])
    for name, runs in ours.items():
        ll = json.loads(runs[-1][2])["log_likelihood"]
        time = statistics.median(run[0] for run in runs)
        print(f"| {model} | {name} | {time:.2f} | {max(run[1] for run in runs):.0f} | {ll:.6f} | {time / ours_time:.2f}× rapport's time |")
    ours_ll = json.loads(ours["rapport"][-1][2])["log_likelihood"]
    finished = [run for run in theirs if run is not None]
    if finished:
        theirs_ll = json.loads(finished[-1][2])["log_likelihood"]
        theirs_time = statistics.median(run[0] for run in finished)
        print(f"| {model} | lifetimes 0.11.3 | {theirs_time:.2f} | {max(run[1] for run in finished):.0f} | {theirs_ll:.6f} | {theirs_time / ours_time:.0f}× |")
        print(f"|  | relative LL difference | | | {abs(ours_ll - theirs_ll) / abs(theirs_ll):.2e} | |")
    elif not args.skip_lifetimes:
        print(f"| {model} | lifetimes 0.11.3 | failed or > {args.lifetimes_timeout} s | | | |")
    for name, binary in binaries.items():
        predictions = [timed([binary, "clv", "predict", "-q", "--model", model, "--summary", str(summary), "--params", str(out_dir / f"{model}-{name}.json"), "--time-unit", args.time_unit, "--horizon", "52", "--output", str(out_dir / f"predictions-{name}.csv")]) for _ in range(args.runs)]
        print(f"|  | {name} predict (read CSV, predict, write CSV) | {statistics.median(run[0] for run in predictions):.2f} | {max(run[1] for run in predictions):.0f} | | |")
