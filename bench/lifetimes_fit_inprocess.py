"""lifetimes 0.11.3 fit times measured inside Python (without interpreter start-up and
imports), median of three, for a summary CSV (customer_id, frequency, recency, T,
monetary_value):

    .venv/bin/python bench/lifetimes_fit_inprocess.py SUMMARY.csv

Gamma-Gamma is fitted on the repeat buyers with a positive mean spend, as lifetimes
requires. A fit that raises (lifetimes' ConvergenceError) is reported as failed.
"""
import statistics
import sys
import time

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter

summary = pd.read_csv(sys.argv[1])
spenders = summary[(summary.frequency > 0) & (summary.get("monetary_value", 0) > 0)] if "monetary_value" in summary else None
fits = [
    ("bg-nbd", lambda: BetaGeoFitter().fit(summary.frequency, summary.recency, summary["T"])),
    ("mbg-nbd", lambda: ModifiedBetaGeoFitter().fit(summary.frequency, summary.recency, summary["T"])),
    ("pareto-nbd", lambda: ParetoNBDFitter().fit(summary.frequency, summary.recency, summary["T"])),
]
if spenders is not None:
    fits.append(("gamma-gamma", lambda: GammaGammaFitter().fit(spenders.frequency, spenders.monetary_value)))
for name, fit in fits:
    times = []
    try:
        for _ in range(3):
            started = time.perf_counter()
            fit()
            times.append(time.perf_counter() - started)
    except Exception as error:  # lifetimes raises ConvergenceError on some real logs
        print(f"{name}: failed ({type(error).__name__})")
        continue
    print(f"{name}: {statistics.median(times):.3f} s")
