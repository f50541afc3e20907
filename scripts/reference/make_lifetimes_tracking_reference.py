"""Tracking reference for `rapport clv track`: lifetimes 0.11.3's
`expected_cumulative_transactions` on the CDNOW sample, the weekly cumulative repeat
purchases of Fader, Hardie & Lee (2005), Figure 3, actual and BG/NBD-expected.

    .venv/bin/python scripts/reference/make_lifetimes_tracking_reference.py

BG/NBD at lifetimes' own fit of the sample (data/reference/clv/lifetimes_0.11.3_params.json,
weekly units), days as periods, a tracking point every 7 days for 78 weeks from the
first purchase (1997-01-01). Writes data/reference/lifetimes_cdnow_sample_tracking.csv
(committed; tests do not need Python).
"""
import json
import pathlib

import lifetimes
import pandas as pd
from lifetimes import BetaGeoFitter
from lifetimes.utils import expected_cumulative_transactions

root = pathlib.Path(__file__).resolve().parents[2]
sample = pd.read_csv(root / "crates/rapport-engine/data/CDNOW_sample.txt", sep=r"\s+", header=None, names=["original", "id", "date", "cds", "dollars"], dtype={"date": str})
sample["date"] = pd.to_datetime(sample["date"], format="%Y%m%d")
params = json.loads((root / "data/reference/clv/lifetimes_0.11.3_params.json").read_text())["BG/NBD"]["params"]
model = BetaGeoFitter()
model.params_ = pd.Series(params)
tracking = expected_cumulative_transactions(model, sample, "date", "id", 78 * 7, freq="D", freq_multiplier=7)
out = root / "data/reference/lifetimes_cdnow_sample_tracking.csv"
with open(out, "w") as handle:
    handle.write(f"# lifetimes {lifetimes.__version__}, pandas {pd.__version__}: expected_cumulative_transactions(BG/NBD {params}, CDNOW_sample, t=546, freq='D', freq_multiplier=7)\n")
    tracking.reset_index(drop=True).rename_axis("week").reset_index().assign(week=lambda d: d.week + 1).to_csv(handle, index=False, float_format="%.12g")
print(out, len(tracking))
print(tracking.head(3), tracking.tail(3))
