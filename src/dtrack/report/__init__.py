"""Rendering of reports: tables, JSON and CSV; the only place that formats numbers and times."""
