"""Alerts: failed runs and systemic trouble, recorded in dw_etl_alerts and sent to Slack/e-mail.

`outbox` writes and claims the rows (the alert row is the outbox), `monitor` is what the active
scheduler runs, `slack` and `email` build and send the messages, `queries` reads them for the UI.
"""
