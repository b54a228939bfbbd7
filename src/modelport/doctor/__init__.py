"""``modelport doctor``: diagnose a running server from the outside."""
