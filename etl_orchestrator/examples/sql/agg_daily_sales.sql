-- job: agg_daily_sales
-- name: Daily sales aggregate
-- description: Orders, customers, units, net revenue, margin and returns per calendar day. Rebuilt in full each run (drop and create), so its figures always match fct_sales.
-- depends_on: fct_sales, dim_date
-- tags: sales, aggregate
-- domain: finance
-- reads: fct_sales, dim_date
-- writes: agg_daily_sales
-- timeout_s: 600
-- retry: max_attempts=3 base_s=2 factor=2 max_s=60 jitter=0.2
-- priority: 5

DROP TABLE IF EXISTS agg_daily_sales;

CREATE TABLE agg_daily_sales (
    date_key INTEGER NOT NULL PRIMARY KEY,
    calendar_date DATE NOT NULL,
    orders INTEGER NOT NULL,
    customers INTEGER NOT NULL,
    units BIGINT NOT NULL,
    net_cents BIGINT NOT NULL,
    margin_cents BIGINT NOT NULL,
    returned_cents BIGINT NOT NULL
);

-- Only completed orders count as sales; returned ones are reported separately.
INSERT INTO agg_daily_sales (
    date_key, calendar_date, orders, customers, units, net_cents, margin_cents, returned_cents
)
SELECT
    f.date_key,
    d.calendar_date,
    COUNT(DISTINCT CASE WHEN f.status = 'completed' THEN f.order_id END),
    COUNT(DISTINCT CASE WHEN f.status = 'completed' THEN f.customer_key END),
    SUM(CASE WHEN f.status = 'completed' THEN f.quantity ELSE 0 END),
    SUM(CASE WHEN f.status = 'completed' THEN f.net_cents ELSE 0 END),
    SUM(CASE WHEN f.status = 'completed' THEN f.margin_cents ELSE 0 END),
    SUM(CASE WHEN f.status = 'returned' THEN f.net_cents ELSE 0 END)
FROM fct_sales AS f
JOIN dim_date AS d ON d.date_key = f.date_key
GROUP BY f.date_key, d.calendar_date;
