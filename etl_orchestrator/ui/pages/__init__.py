"""Console pages: each module holds one page and its substate."""
