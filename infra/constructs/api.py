"""The HTTP API: one Lambda proxy integration (payload 2.0) per function, a route per declared ``Route``, access
logs, and stage throttling: the stage default for every route (people and API clients), the deployment's ingestion
limits on alert intake routes (``Route.ingest``, sized for a storm), and a route's own where ``Route.throttle`` is
set."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import jsii
from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.nag import acknowledge
from infra.constructs.naming import cid
from infra.topology import Route

#: JSON access-log line: enough to trace a request to its Lambda invocation and to see throttling/integration errors
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "integrationStatus": "$context.integrationStatus",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "error": "$context.error.message",
}


def _route_cid(route: Route, taken: set[str]) -> str:
    """Readable and stable (``RouteGetSchedulesIdShifts``); when two keys read the same (``/a/b`` and ``/a-b``), the
    later one gets a digest of its key appended."""
    path = route.path.strip("/").replace("{", "").replace("}", "").replace("+", "Plus") or "Root"
    readable = f"Route{cid(route.method.title())}{cid(path)}"
    if readable in taken:
        readable += hashlib.sha256(route.route_key.encode()).hexdigest()[:8].upper()
    taken.add(readable)
    return readable


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        routes: tuple[Route, ...],
        functions: Mapping[str, lambda_.IFunction],
        throttle_rate: float,
        throttle_burst: int,
        log_retention: logs.RetentionDays,
        ingest_throttle: tuple[float, int] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            description="OnCall Hub REST API and integrations",
            create_default_stage=False,
        )
        access_logs = logs.LogGroup(self, "AccessLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=throttle_rate, burst_limit=throttle_burst),
            access_log_settings=_AccessLogSettings(access_logs),
        )
        integrations_by_fn: dict[str, integrations.HttpLambdaIntegration] = {}
        route_settings: dict[str, dict[str, object]] = {}
        route_ids: set[str] = set()
        for route in routes:
            integration = integrations_by_fn.get(route.function)
            if integration is None:
                integration = integrations.HttpLambdaIntegration(
                    f"{cid(route.function)}Integration",
                    functions[route.function],
                    payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
                )
                integrations_by_fn[route.function] = integration
            http_route = apigwv2.HttpRoute(
                self,
                _route_cid(route, route_ids),
                http_api=self.http_api,
                route_key=apigwv2.HttpRouteKey.with_(route.path, apigwv2.HttpMethod(route.method)),
                integration=integration,
            )
            acknowledge(
                http_route,
                "AwsSolutions-APIG4",
                "Authentication is the application's own (short-lived JWT access tokens it issues, integration keys "
                "for alert sources, the Telegram secret-token header), checked in the function: API Gateway "
                "authorizers cannot verify integration keys or the Telegram header, and /auth/login, /health and "
                "/docs must be public.",
            )
            throttle = route.throttle or (ingest_throttle if route.ingest else None)
            if throttle is not None:
                rate, burst = throttle
                route_settings[route.route_key] = {"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}
                # AWS resolves the stage's RouteSettings against routes that exist when the stage is created; a route
                # the stage does not depend on may come later and fail the deploy (NotFoundException)
                self.stage.node.add_dependency(http_route)
        if route_settings:
            cfn_stage = self.stage.node.default_child
            assert isinstance(cfn_stage, apigwv2.CfnStage)
            cfn_stage.add_property_override("RouteSettings", route_settings)
        self.url = self.http_api.api_endpoint
        CfnOutput(Stack.of(self), "ApiUrl", value=self.url, description="Base URL of the OnCall Hub HTTP API")


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """``IAccessLogSettings`` is a jsii interface (not a struct), so Python supplies an implementing object."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway.AccessLogFormat:
        return apigateway.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT))
