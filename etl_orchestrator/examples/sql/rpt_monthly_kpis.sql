-- job: rpt_monthly_kpis
-- name: Monthly KPIs
-- description: Revenue, orders, margin, returns and new customers per month, from the daily sales and customer lifetime aggregates. Rebuilt in full each run.
-- depends_on: agg_daily_sales, agg_customer_ltv
-- tags: sales, report
-- domain: finance
-- reads: agg_daily_sales, agg_customer_ltv
-- writes: rpt_monthly_kpis
-- timeout_s: 300
-- retry: max_attempts=3 base_s=2 factor=2 max_s=60 jitter=0.2
-- reuse_process: true

DROP TABLE IF EXISTS rpt_monthly_kpis;

CREATE TABLE rpt_monthly_kpis (
    month_key INTEGER NOT NULL PRIMARY KEY,
    orders INTEGER NOT NULL,
    net_cents BIGINT NOT NULL,
    margin_cents BIGINT NOT NULL,
    returned_cents BIGINT NOT NULL,
    new_customers INTEGER NOT NULL
);

-- Keys are yyyymmdd integers, so integer division by 100 gives yyyymm on every backend.
INSERT INTO rpt_monthly_kpis (
    month_key, orders, net_cents, margin_cents, returned_cents, new_customers
)
SELECT
    sales.month_key,
    sales.orders,
    sales.net_cents,
    sales.margin_cents,
    sales.returned_cents,
    COALESCE(joined.new_customers, 0)
FROM (
    SELECT
        date_key / 100 AS month_key,
        SUM(orders) AS orders,
        SUM(net_cents) AS net_cents,
        SUM(margin_cents) AS margin_cents,
        SUM(returned_cents) AS returned_cents
    FROM agg_daily_sales
    GROUP BY date_key / 100
) AS sales
LEFT JOIN (
    SELECT first_date_key / 100 AS month_key, COUNT(*) AS new_customers
    FROM agg_customer_ltv
    GROUP BY first_date_key / 100
) AS joined ON joined.month_key = sales.month_key;
