"""Dashboards of the product's metrics (Grafana, from ``GET /metrics``); ``build`` writes them."""
