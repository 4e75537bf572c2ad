"""What handlers, the API and the CLI call: one module per area (users, audit, jobs, runs...)."""
