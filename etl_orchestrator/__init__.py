"""etl-orchestrator: a web console and engine for ETL jobs."""
