"""Generate a reproducible purchase log for the summary benchmark.

    python bench/gen_purchases.py ROWS CUSTOMERS OUT.csv [--seed 42]

Columns: customer_id (c0000001…), date (YYYY-MM-DD, two years), amount (2 decimals,
about 2% refunds). Rows are in random order (not grouped by customer), as a
real export merged from several systems would be.
"""
import argparse

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("rows", type=int)
parser.add_argument("customers", type=int)
parser.add_argument("out")
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--chunk", type=int, default=5_000_000)
args = parser.parse_args()

rng = np.random.default_rng(args.seed)
start = np.datetime64("2022-01-01")
with open(args.out, "w") as handle:
    handle.write("customer_id,date,amount\n")
    written = 0
    while written < args.rows:
        n = min(args.chunk, args.rows - written)
        # Customer activity is skewed: a few buy often, most rarely.
        customers = np.minimum((rng.pareto(1.2, n) * args.customers / 8).astype(np.int64), args.customers - 1)
        customers = (customers * 2654435761) % args.customers  # spread heavy buyers over the id range
        days = rng.integers(0, 730, n)
        amounts = np.round(rng.gamma(2.0, 25.0, n), 2)
        amounts[rng.random(n) < 0.02] *= -1
        dates = (start + days.astype("timedelta64[D]")).astype(str)
        lines = [f"c{c:07d},{d},{a:.2f}\n" for c, d, a in zip(customers.tolist(), dates.tolist(), amounts.tolist())]
        handle.writelines(lines)
        written += n
