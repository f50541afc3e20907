"""lifetimes-style daily customer summary with polars (what a user would write)."""
import sys

import polars as pl

path, out = sys.argv[1], sys.argv[2]
lf = pl.scan_csv(path, schema={"customer_id": pl.Utf8, "date": pl.Utf8, "amount": pl.Float64})
lf = lf.with_columns(pl.col("date").str.to_date("%Y-%m-%d"))
end = lf.select(pl.col("date").max()).collect().item()
per_day = (
    lf.group_by(["customer_id", "date"])
    .agg(pl.col("amount").sum(), (pl.col("amount") >= 0).any().alias("purchase"))
    .filter(pl.col("purchase"))
)
summary = (
    per_day.group_by("customer_id")
    .agg(
        pl.col("date").min().alias("first"),
        pl.col("date").max().alias("last"),
        pl.len().alias("periods"),
        pl.col("amount").sum().alias("total"),
        pl.col("amount").sort_by("date").first().alias("first_amount"),
    )
    .select(
        "customer_id",
        (pl.col("periods") - 1).alias("frequency"),
        (pl.col("last") - pl.col("first")).dt.total_days().cast(pl.Float64).alias("recency"),
        (pl.lit(end) - pl.col("first")).dt.total_days().cast(pl.Float64).alias("T"),
        pl.when(pl.col("periods") > 1)
        .then((pl.col("total") - pl.col("first_amount")) / (pl.col("periods") - 1))
        .otherwise(0.0)
        .alias("monetary_value"),
    )
)
summary.collect().write_csv(out)
