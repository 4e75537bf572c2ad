"""The demo retail warehouse: generated source data, Python and SQL jobs from extract to reports."""
