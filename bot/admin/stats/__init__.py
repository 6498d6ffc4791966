"""Statistics at /admin/stats (page with charts) and /admin/stats.csv (export).

queries.py computes the figures (the database, and Rasa's tracker store read-only),
export.py writes the CSV, charts.py the charts' geometry and number formats, page.py
the page and the two handlers.
"""

from bot.admin.stats.charts import fmt_duration, fmt_percent
from bot.admin.stats.export import csv_rows, to_csv
from bot.admin.stats.page import stats_csv, stats_page
from bot.admin.stats.queries import (
    TRACKER_FILE,
    Stats,
    collect,
    percentile,
    read_top_intents,
    window,
)

__all__ = [
    "TRACKER_FILE",
    "Stats",
    "collect",
    "csv_rows",
    "fmt_duration",
    "fmt_percent",
    "percentile",
    "read_top_intents",
    "stats_csv",
    "stats_page",
    "to_csv",
    "window",
]
