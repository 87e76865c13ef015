"""The REST API: one function, one powertools resolver, one Router per resource (``routes/``).

Thin by design: each route validates input, makes one service call and shapes the output. Errors become the
envelope in one place (``oncall.api.errors``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oncall import lazy_packages

# before anything imports them: the API needs one resolver and a few event classes of these packages
lazy_packages.defer("aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes")

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver  # noqa: E402
from aws_lambda_powertools.logging import correlation_paths  # noqa: E402
from aws_lambda_powertools.utilities.typing import LambdaContext  # noqa: E402

import console  # noqa: E402
import routes  # noqa: E402
from oncall import observability, wiring  # noqa: E402
from oncall.api import auth, errors, guard, headers, idempotency, lists  # noqa: E402
from oncall.settings import get_settings  # noqa: E402
from routes import ingest  # noqa: E402


class Resolver(APIGatewayHttpResolver):
    """Registers the routes a request's path needs before resolving it (``routes.SEGMENTS``): the console resolves
    API paths of its own, and every way in comes through here."""

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        routes.register_for(self, request_path(event))
        return super().resolve(event, context)


def request_path(event: Mapping[str, Any]) -> str:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

    # the resolver's own reading of the path (stage prefix removed)
    return APIGatewayProxyEventV2(dict(event)).path


app = Resolver(enable_validation=True)
errors.install(app)
# auth first: idempotency scopes keys and lists bind cursors to app.context["principal_id"], which auth sets
app.use(middlewares=[auth.middleware, idempotency.middleware, lists.middleware])


@observability.correlated(correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    wiring.incidents.teams_migrated()
    allow = headers.origins(settings.cors_origins)
    if console.is_console(event):
        # the web console: HTML forms over this same API (functions/api/console), its own CSRF and cookie session
        return headers.secure(event, console.handle(app, event, context), allow)
    # alert ingestion answers PagerDuty clients in PagerDuty's shapes and takes larger batches from Alertmanager
    limit = ingest.body_limit(event, settings.max_body_bytes)
    # the precheck reads the route table: the path's routes are registered first
    routes.register_for(app, request_path(event))
    early = (
        headers.preflight(event, allow)
        or ingest.precheck(event)
        or guard.precheck(event, limit)
        or auth.precheck(app, event)
    )
    # every answer, early or resolved, leaves with the security headers
    return headers.secure(event, early if early is not None else app.resolve(event, context), allow)
