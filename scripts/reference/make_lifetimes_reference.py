"""Reference values for Rapport's tests, computed with the pinned Python tools.

Run once (needs network for pip):

    python3 -m venv .venv
    .venv/bin/pip install numpy==1.26.4 pandas==1.5.3 scipy==1.11.4 lifetimes==0.11.3
    .venv/bin/python scripts/reference/make_lifetimes_reference.py

Writes data/reference/lifetimes_cdnow_master_summary_D.csv: lifetimes 0.11.3
summary_data_from_transaction_data(freq='D') of data/cdnow/CDNOW_master.txt with
monetary_value from dollar_value. The output is committed; tests do not need Python.
"""
import pathlib

import lifetimes
import pandas as pd
from lifetimes.utils import summary_data_from_transaction_data

root = pathlib.Path(__file__).resolve().parents[2]
master = pd.read_csv(root / "data/cdnow/CDNOW_master.txt", sep=r"\s+", dtype={"customer_id": str, "date": str})
master["date"] = pd.to_datetime(master["date"], format="%Y%m%d")
summary = summary_data_from_transaction_data(master, "customer_id", "date", monetary_value_col="dollar_value", freq="D")
out = root / "data/reference/lifetimes_cdnow_master_summary_D.csv"
with open(out, "w") as handle:
    handle.write(f"# lifetimes {lifetimes.__version__}, pandas {pd.__version__}: summary_data_from_transaction_data(CDNOW_master, freq='D', monetary_value_col='dollar_value')\n")
    summary.reset_index().to_csv(handle, index=False, float_format="%.10g")
print(out, len(summary))
