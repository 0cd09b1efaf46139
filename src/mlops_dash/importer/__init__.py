"""``mlops-dash import``: existing Grafana dashboards and Prometheus rule files → specs.

Not imported by ``mlops-dash build`` (only the ``import`` command and tests use it).
Modules: migrate.py (legacy dashboards upgraded as Grafana's own migration does), grafana.py
(dashboard JSON → Dashboard spec), rules.py (rule files → alerts and recording rules),
catalogue.py (queried metrics → catalogue entries), report.py (what was not representable),
output.py (writing the spec set), roundtrip.py (the comparable views of the round trip).
"""
