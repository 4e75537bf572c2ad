"""When the demo pipeline's scheduled jobs run."""

#: Every daily job shares one tick. A run waiting on an upstream outside its own batch (fct_sales
#: on the dimensions) needs that upstream's success for the same or a later tick, so an earlier
#: tick for one of them (say 01:00 for dim_date) would leave fct_sales waiting until it times out.
DAILY = "0 2 * * *"
HOURLY = "0 * * * *"
#: The quality gate checks the sources before the daily load (when it is enabled).
BEFORE_DAILY = "30 1 * * *"
