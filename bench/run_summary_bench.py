"""Side-by-side benchmark of `rapport summary` against polars and DuckDB.

    python bench/run_summary_bench.py [--rows 10000000] [--customers 1000000] [--runs 5]
        [--only rapport,polars,duckdb] [--also before=/path/to/another/rapport]

Generates the log once (bench/out/, reproducible from the seed), then runs each tool
--runs times in alternation, and reports median wall time, peak RSS (from
/usr/bin/time), and ratios. Checks that the three summaries agree.
"""
import argparse
import os
import pathlib
import statistics
import subprocess
import sys

root = pathlib.Path(__file__).resolve().parents[1]
out_dir = root / "bench" / "out"
out_dir.mkdir(parents=True, exist_ok=True)

parser = argparse.ArgumentParser()
parser.add_argument("--rows", type=int, default=10_000_000)
parser.add_argument("--customers", type=int, default=1_000_000)
parser.add_argument("--runs", type=int, default=5)
parser.add_argument("--only", default="rapport,polars,duckdb")
parser.add_argument("--also", action="append", default=[], metavar="NAME=BINARY",
                    help="another rapport binary to time side by side (e.g. before=/path/to/old/rapport)")
args = parser.parse_args()

data = out_dir / f"purchases_{args.rows}_{args.customers}.csv"
if not data.exists():
    subprocess.run([sys.executable, str(root / "bench/gen_purchases.py"), str(args.rows), str(args.customers), str(data)], check=True)

rapport = root / "target/release/rapport"
python = sys.executable
commands = {
    "rapport": [str(rapport), "summary", str(data), "--amount-column", "amount", "--period", "day", "-q", "--output", str(out_dir / "rapport.csv")],
    "polars": [python, str(root / "bench/summary_polars.py"), str(data), str(out_dir / "polars.csv")],
    "duckdb": [python, str(root / "bench/summary_duckdb.py"), str(data), str(out_dir / "duckdb.csv")],
}
commands = {name: command for name, command in commands.items() if name in args.only.split(",")}
for extra in args.also:
    name, binary = extra.split("=", 1)
    commands[name] = [binary] + commands["rapport"][1:-1] + [str(out_dir / f"{name}.csv")]

def timed(command):
    result = subprocess.run(["/usr/bin/time", "-f", "%e %M"] + command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{command[0]} failed: {result.stderr}")
    seconds, kib = result.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kib) / 1024

results = {name: [] for name in commands}
for _ in range(args.runs):
    for name, command in commands.items():
        results[name].append(timed(command))

print(f"rows={args.rows} customers={args.customers} cores={os.cpu_count()} runs={args.runs}")
print("| tool | median wall (s) | peak RSS (MiB) | time vs rapport |")
print("| --- | ---: | ---: | ---: |")
base = statistics.median(t for t, _ in results["rapport"]) if "rapport" in results else None
for name, runs in results.items():
    wall = statistics.median(t for t, _ in runs)
    peak = max(m for _, m in runs)
    ratio = f"{wall / base:.2f}×" if base else "-"
    print(f"| {name} | {wall:.2f} | {peak:.0f} | {ratio} |")
print()
for name, runs in results.items():
    print(f"{name} runs (s): " + ", ".join(f"{t:.2f}" for t, _ in runs))

# The three must agree customer by customer (relative 1e-9: sums in another order
# differ in the last bits).
def load(path):
    rows = {}
    with open(path) as handle:
        next(handle)
        for line in handle:
            customer, *values = line.rstrip("\n").split(",")
            rows[customer] = tuple(float(v) for v in values)
    return rows

def agree(left, right):
    if left.keys() != right.keys():
        return False
    return all(abs(a - b) <= 1e-9 * max(1.0, abs(b)) for key in left for a, b in zip(left[key], right[key]))

outputs = {name: load(out_dir / f"{name}.csv") for name in commands}
names = list(outputs)
for other in names[1:]:
    print(f"{names[0]} agrees with {other} on all {len(outputs[other])} customers: {agree(outputs[names[0]], outputs[other])}")
