"""One module per group of API routes; web/app.py holds the routing table."""
