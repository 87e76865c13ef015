"""Importing from the tool a team is leaving (``make import SOURCE=pagerduty``): read the source completely, plan
against what OnCall Hub already has, print the plan, and with ``--apply`` perform it through our services; then
compare who is on call, hour by hour (docs/architecture.md, "Importing")."""
