"""lifetimes-style daily customer summary with DuckDB SQL (what a user would write)."""
import sys

import duckdb

path, out = sys.argv[1], sys.argv[2]
duckdb.sql(f"""
COPY (
  WITH t AS (
    SELECT customer_id, CAST(date AS DATE) AS day, amount
    FROM read_csv('{path}', header = true, columns = {{'customer_id': 'VARCHAR', 'date': 'VARCHAR', 'amount': 'DOUBLE'}})
  ),
  obs AS (SELECT max(day) AS end_day FROM t),
  per_day AS (
    SELECT customer_id, day, sum(amount) AS amount
    FROM t GROUP BY customer_id, day HAVING bool_or(amount >= 0)
  ),
  c AS (
    SELECT customer_id, min(day) AS first, max(day) AS last, count(*) AS periods,
           sum(amount) AS total, arg_min(amount, day) AS first_amount
    FROM per_day GROUP BY customer_id
  )
  SELECT customer_id, periods - 1 AS frequency,
         CAST(last - first AS DOUBLE) AS recency,
         CAST((SELECT end_day FROM obs) - first AS DOUBLE) AS T,
         CASE WHEN periods > 1 THEN (total - first_amount) / (periods - 1) ELSE 0 END AS monetary_value
  FROM c
) TO '{out}' (HEADER, DELIMITER ',')
""")
