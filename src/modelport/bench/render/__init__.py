"""Ways to show a BenchResult: terminal table, CSV, PNG plots, one HTML report."""
