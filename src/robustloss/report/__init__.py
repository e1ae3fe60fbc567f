"""Figures, tables and HTML reports (the top library layer, below only the CLI)."""
