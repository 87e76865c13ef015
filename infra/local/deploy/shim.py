"""What moto's CloudFormation skips or half-creates for our template, completed with moto's own backends.

moto (pinned in pyproject.toml) has no CloudFormation model for the HTTP API, its stage, routes and integrations,
alarms, asynchronous invoke configs, topic and queue policies or CDK's metadata, and drops properties it does not
read: function layers and architecture, table TTL and point-in-time recovery, a state machine definition stored as an
S3 asset with its substitutions. A ``Custom::SecretParameter`` it would hand to its function in Docker (there is
none): the shim runs that function's own handler in-process against moto's SSM, for Create, Update and Delete, as
CloudFormation would invoke it. ``install()`` adds the models and wraps the creators, in this process only (the
in-process tests and ``python -m infra.local.deploy``, whose moto server runs in the same process). Where AWS refuses
a template at create time and moto would not, the shim refuses too: a stage whose route settings name a route not
created yet, a custom resource whose ServiceToken names no function. The bootstrap stack's bucket policy stays
skipped: it refuses plain HTTP, which is all the emulator speaks (docs/architecture.md, "The emulated deploy").

Long because each of the nine resource types moto lacks is one creator here, spelled out argument by argument against
the moto backend call it makes, the custom resource is one model with its three requests, and each dropped property
or moto quirk is one small wrapper with its reason.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable
from functools import cache
from types import ModuleType
from typing import Any
from urllib.parse import urlparse

from moto.core.common_models import CloudFormationModel

from infra.topology import ROOT

_installed = False


#: what a creator returns: the physical id (``Ref``) and the attributes ``Fn::GetAtt`` may read
Created = tuple[str, dict[str, str]]
Creator = Callable[[dict[str, Any], str, str, str], Created]
_CREATORS: dict[str, Creator] = {}


def _creates(resource_type: str) -> Callable[[Creator], Creator]:
    """Register ``create(properties, name, account, region)`` as moto's model for ``resource_type``."""

    def register(create: Creator) -> Creator:
        _CREATORS[resource_type] = create
        return create

    return register


class _Created:
    """A created resource as CloudFormation sees it: what ``Ref`` gives and the attributes ``Fn::GetAtt`` reads."""

    def __init__(self, physical_id: str, attributes: dict[str, str]) -> None:
        self.physical_resource_id = physical_id
        self._attributes = attributes

    def get_cfn_attribute(self, attribute_name: str) -> str:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name not in self._attributes:
            raise UnformattedGetAttTemplateException()
        return self._attributes[attribute_name]

    def is_created(self) -> bool:
        return True


def _model(resource_type: str, create: Creator) -> type:
    """A direct subclass of moto's CloudFormationModel (moto lists only direct subclasses as models)."""

    def from_json(cls: type, /, resource_name: str, cfn: dict[str, Any], account: str, region: str, **_: Any) -> Any:
        return cls(*create(cfn.get("Properties", {}), resource_name, account, region))

    return type(
        resource_type.replace("::", ""),
        (_Created, CloudFormationModel),
        {
            "cloudformation_type": staticmethod(lambda: resource_type),
            "cloudformation_name_type": staticmethod(lambda: ""),
            "has_cfn_attr": classmethod(lambda cls, attr: True),
            "create_from_cloudformation_json": classmethod(from_json),
        },
    )


def _tags(value: Any) -> dict[str, str]:
    if isinstance(value, list):
        return {t["Key"]: t["Value"] for t in value}
    return dict(value or {})


def _lower_keys(settings: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's ``ThrottlingRateLimit`` is the API's ``throttlingRateLimit``."""
    return {key[:1].lower() + key[1:]: value for key, value in settings.items()}


def _api_backend(account_id: str, region_name: str) -> Any:
    from moto.apigatewayv2.models import apigatewayv2_backends

    return apigatewayv2_backends[account_id][region_name]


@_creates("AWS::ApiGatewayV2::Api")
def _http_api(p: dict[str, Any], name: str, account: str, region: str) -> Created:
    api = _api_backend(account, region).create_api(
        api_key_selection_expression=None,
        cors_configuration=p.get("CorsConfiguration"),
        description=p.get("Description"),
        disable_schema_validation=None,
        disable_execute_api_endpoint=p.get("DisableExecuteApiEndpoint"),
        name=p.get("Name", name),
        protocol_type=p["ProtocolType"],
        route_selection_expression=None,
        tags=_tags(p.get("Tags")),
        version=None,
    )
    return api.api_id, {"ApiEndpoint": api.api_endpoint, "ApiId": api.api_id}


@_creates("AWS::ApiGatewayV2::Integration")
def _integration(p: dict[str, Any], name: str, account: str, region: str) -> Created:
    integration = _api_backend(account, region).create_integration(
        api_id=p["ApiId"],
        connection_id=None,
        connection_type=p.get("ConnectionType"),
        content_handling_strategy=None,
        credentials_arn=p.get("CredentialsArn"),
        description=p.get("Description"),
        integration_method=p.get("IntegrationMethod"),
        integration_subtype=None,
        integration_type=p["IntegrationType"],
        integration_uri=p.get("IntegrationUri"),
        passthrough_behavior=None,
        payload_format_version=p.get("PayloadFormatVersion"),
        request_parameters=None,
        request_templates=None,
        response_parameters=None,
        template_selection_expression=None,
        timeout_in_millis=p.get("TimeoutInMillis"),
        tls_config={},
    )
    return integration.id, {"IntegrationId": integration.id}


@_creates("AWS::ApiGatewayV2::Route")
def _route(p: dict[str, Any], name: str, account: str, region: str) -> Created:
    route = _api_backend(account, region).create_route(
        api_id=p["ApiId"],
        api_key_required=False,
        authorization_scopes=p.get("AuthorizationScopes", []),
        authorization_type=p.get("AuthorizationType", "NONE"),
        authorizer_id=p.get("AuthorizerId"),
        model_selection_expression=None,
        operation_name=p.get("OperationName"),
        request_models=None,
        request_parameters=None,
        route_key=p["RouteKey"],
        route_response_selection_expression=None,
        target=p.get("Target"),
    )
    return route.route_id, {"RouteId": route.route_id}


@_creates("AWS::ApiGatewayV2::Stage")
def _stage(p: dict[str, Any], name: str, account: str, region: str) -> Created:
    from moto.apigatewayv2.exceptions import BadRequestException

    backend = _api_backend(account, region)
    existing = {route.route_key for route in backend.get_routes(p["ApiId"])}
    # AWS resolves RouteSettings against the routes that exist when the stage is created
    for key in p.get("RouteSettings", {}):
        if key not in existing:
            raise BadRequestException(
                f"NotFoundException: Unable to find Route by key {key} within the provided RouteSettings"
            )
    stage = backend.create_stage(
        p["ApiId"],
        {
            "stageName": p["StageName"],
            "autoDeploy": p.get("AutoDeploy"),
            "defaultRouteSettings": _lower_keys(p.get("DefaultRouteSettings", {})),
            "routeSettings": {k: _lower_keys(v) for k, v in p.get("RouteSettings", {}).items()},
            "accessLogSettings": _lower_keys(p.get("AccessLogSettings") or {}) or None,
            "tags": _tags(p.get("Tags")),
        },
    )
    return stage.name, {}


@_creates("AWS::CloudWatch::Alarm")
def _alarm(p: dict[str, Any], name: str, account: str, region: str) -> Created:
    from moto.cloudwatch.models import cloudwatch_backends

    backend: Any = cloudwatch_backends[account][region]
    alarm = backend.put_metric_alarm(
        name=p.get("AlarmName", name),
        namespace=p.get("Namespace"),
        metric_name=p.get("MetricName"),
        comparison_operator=p["ComparisonOperator"],
        evaluation_periods=p["EvaluationPeriods"],
        period=p.get("Period"),
        threshold=p.get("Threshold"),
        statistic=p.get("Statistic"),
        description=p.get("AlarmDescription"),
        dimensions=p.get("Dimensions", []),
        alarm_actions=p.get("AlarmActions", []),
        ok_actions=p.get("OKActions", []),
        insufficient_data_actions=p.get("InsufficientDataActions", []),
        datapoints_to_alarm=p.get("DatapointsToAlarm"),
        treat_missing_data=p.get("TreatMissingData"),
        tags=p.get("Tags"),
    )
    return alarm.name, {"Arn": alarm.alarm_arn}


@_creates("AWS::Lambda::EventInvokeConfig")
def _event_invoke_config(p: dict[str, Any], name: str, account: str, region: str) -> Created:
    from moto.awslambda.models import lambda_backends

    config = {k: v for k, v in p.items() if k not in ("FunctionName", "Qualifier")}
    lambda_backends[account][region].put_function_event_invoke_config(p["FunctionName"], config)
    return name, {}


@_creates("AWS::SNS::TopicPolicy")
def _topic_policy(p: dict[str, Any], name: str, account: str, region: str) -> Created:
    from moto.sns.models import sns_backends

    for topic_arn in p["Topics"]:
        sns_backends[account][region].set_topic_attribute(topic_arn, "policy", json.dumps(p["PolicyDocument"]))
    return name, {}


@_creates("AWS::SQS::QueuePolicy")
def _queue_policy(p: dict[str, Any], name: str, account: str, region: str) -> Created:
    from moto.sqs.models import sqs_backends

    for queue_url in p["Queues"]:
        queue_name = queue_url.rstrip("/").rsplit("/", 1)[-1]
        sqs_backends[account][region].set_queue_attributes(queue_name, {"Policy": json.dumps(p["PolicyDocument"])})
    return name, {}


@_creates("AWS::CDK::Metadata")
def _cdk_metadata(p: dict[str, Any], name: str, account: str, region: str) -> Created:
    """The CLI's version report (``Analytics``): AWS keeps it as a resource that does nothing."""
    return name, {}


#: the custom resource whose handler the shim runs in-process (moto would invoke its function in Docker)
SECRET_PARAMETER = "Custom::SecretParameter"  # noqa: S105 - a resource type, not a secret
#: the stack's own handler for it: the file its writer function is built from
SECRET_PARAMETER_HANDLER = ROOT / "infra" / "constructs" / "secret_parameter" / "index.py"
#: where the handler's SSM client sends its calls: None in-process (moto's mock answers boto3), or the server's URL
_endpoint: str | None = None


def serve_handlers_through(endpoint: str | None) -> None:
    """The emulator's URL, for handlers run inside moto's server (``make deploy-local``): they call SSM over HTTP as
    the function would in AWS. ``None`` (the default) suits an in-process ``mock_aws``."""
    global _endpoint
    _endpoint = endpoint


@cache
def _secret_parameter_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("secret_parameter_index", SECRET_PARAMETER_HANDLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ssm(region: str) -> Any:
    import boto3

    if _endpoint is None:
        return boto3.client("ssm", region_name=region)
    return boto3.client(
        "ssm",
        region_name=region,
        endpoint_url=_endpoint,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
    )


class _SecretParameter(_Created, CloudFormationModel):
    """``Custom::SecretParameter`` as CloudFormation runs it: each Create, Update and Delete request goes to the
    handler of the function its ServiceToken names (infra/constructs/secret_parameter/index.py, run here through
    ``apply`` against moto's SSM); the physical id is what the handler answers. A handler that raises fails the
    resource with its message, as its FAILED response would."""

    def __init__(self, physical_id: str, properties: dict[str, Any], event: dict[str, Any]) -> None:
        super().__init__(physical_id, {})
        self.properties = properties
        self._event = event

    @staticmethod
    def cloudformation_type() -> str:
        return SECRET_PARAMETER

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    @staticmethod
    def _request(request_type: str, properties: dict[str, Any], base: dict[str, Any], **more: Any) -> dict[str, Any]:
        return {
            **base,
            "RequestType": request_type,
            "ResourceType": SECRET_PARAMETER,
            "ServiceToken": properties.get("ServiceToken"),
            "ResourceProperties": properties,
            **more,
        }

    @staticmethod
    def _handled_by(properties: dict[str, Any], account: str, region: str) -> None:
        """CloudFormation invokes the ServiceToken's function: it must exist (an unknown one fails the resource)."""
        from moto.awslambda.models import lambda_backends

        lambda_backends[account][region].get_function(properties["ServiceToken"])

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kw: Any
    ) -> _SecretParameter:
        properties = cloudformation_json.get("Properties", {})
        cls._handled_by(properties, account_id, region_name)
        base = {"StackId": kw.get("StackId"), "LogicalResourceId": kw.get("LogicalId"), "RequestId": "create"}
        physical = _secret_parameter_handler().apply(cls._request("Create", properties, base), _ssm(region_name))
        return cls(physical, properties, base)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: _SecretParameter,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> _SecretParameter:
        properties = cloudformation_json.get("Properties", {})
        cls._handled_by(properties, account_id, region_name)
        old = original_resource
        handler, ssm = _secret_parameter_handler(), _ssm(region_name)
        update = cls._request(
            "Update",
            properties,
            {**old._event, "RequestId": "update"},
            PhysicalResourceId=old.physical_resource_id,
            OldResourceProperties=old.properties,
        )
        physical = handler.apply(update, ssm)
        if physical != old.physical_resource_id:
            # a new physical id is a replacement: CloudFormation deletes the old one when the update completes
            old.delete(account_id, region_name)
        return cls(physical, properties, old._event)

    def delete(self, account_id: str, region_name: str) -> None:
        delete = self._request(
            "Delete",
            self.properties,
            {**self._event, "RequestId": "delete"},
            PhysicalResourceId=self.physical_resource_id,
        )
        _secret_parameter_handler().apply(delete, _ssm(region_name))


Prepare = Callable[[dict[str, Any], str, str], None]
Complete = Callable[[Any, dict[str, Any], str, str], None]


def _wrap(model: Any, *, before: Prepare | None = None, after: Complete | None = None) -> None:
    """Around moto's creator for ``model``: ``before(properties, account, region)`` may complete the properties,
    ``after(resource, properties, account, region)`` applies what the creator dropped."""
    original = model.create_from_cloudformation_json.__func__

    def create(cls: type, /, name: str, cfn: dict[str, Any], account: str, region: str, **kw: Any) -> Any:
        if before is not None:
            before(cfn["Properties"], account, region)
        resource = original(cls, name, cfn, account, region, **kw)
        if after is not None:
            after(resource, cfn["Properties"], account, region)
        return resource

    model.create_from_cloudformation_json = classmethod(create)


def _table_settings(table: Any, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[account_id][region_name]
    if "TimeToLiveSpecification" in properties:
        backend.update_time_to_live(table.name, properties["TimeToLiveSpecification"])
    pitr = properties.get("PointInTimeRecoverySpecification", {})
    if pitr.get("PointInTimeRecoveryEnabled"):
        backend.update_continuous_backups(table.name, {"PointInTimeRecoveryEnabled": True})


def _function_settings(function: Any, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    """Layers (each must exist, as in AWS), architecture and the rest moto's creator leaves out."""
    function.layers = function._get_layers_data(properties.get("Layers", []))
    function.architectures = properties.get("Architectures", ["x86_64"])
    if "TracingConfig" in properties:
        function.tracing_config = properties["TracingConfig"]
    if "LoggingConfig" in properties:
        function.logging_config = properties["LoggingConfig"]
    if "DeadLetterConfig" in properties:
        function.dead_letter_config = properties["DeadLetterConfig"]


def _layer_settings(layer: Any, properties: dict[str, Any], account_id: str, region_name: str) -> None:
    layer.compatible_architectures = properties.get("CompatibleArchitectures", [])


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def _state_machine_definition(properties: dict[str, Any], account_id: str, region_name: str) -> None:
    """The definition as Step Functions sees it: read from its S3 asset, ``${Name}`` replaced by its substitution."""
    from moto.s3.models import s3_backends

    location = properties.get("DefinitionS3Location")
    if location is not None and "DefinitionString" not in properties:
        stored = s3_backends[account_id]["aws"].get_object(location["Bucket"], location["Key"])
        properties["DefinitionString"] = stored.value.decode() if stored is not None else ""
    if "Definition" in properties and "DefinitionString" not in properties:
        properties["DefinitionString"] = json.dumps(properties["Definition"])
    substitutions = properties.get("DefinitionSubstitutions", {})
    properties["DefinitionString"] = _PLACEHOLDER.sub(
        lambda m: str(substitutions.get(m.group(1), m.group(0))), properties.get("DefinitionString", "")
    )


def _name_failures(parsing: Any) -> None:
    """A resource is created after what it depends on; one that cannot be created fails the stack naming it (moto
    would answer with the bare service error, in that service's protocol, which CloudFormation clients cannot parse)."""
    from moto.cloudformation.exceptions import ValidationError

    original = parsing.parse_and_create_resource

    def create(logical_id: str, resource_json: dict[str, Any], resources_map: Any, *args: Any, **kwargs: Any) -> Any:
        # moto orders by DependsOn only on CreateStack, not when executing a change set (what the CDK CLI does)
        depends_on = resource_json.get("DependsOn", [])
        for dependency in [depends_on] if isinstance(depends_on, str) else depends_on:
            resources_map[dependency]
        try:
            return original(logical_id, resource_json, resources_map, *args, **kwargs)
        except ValidationError:
            raise
        except Exception as exc:
            reason = getattr(exc, "message", None) or getattr(exc, "description", None) or str(exc)
            raise ValidationError(
                logical_id, f"{logical_id} ({resource_json.get('Type')}) CREATE_FAILED: {reason}"
            ) from exc

    parsing.parse_and_create_resource = create


def _path_style_templates(responses: Any) -> None:
    """The CLI hands CloudFormation its template as a path-style URL on the emulator's address
    (``http://127.0.0.1:<port>/<bucket>/<key>``); moto reads path-style only from ``localhost``."""
    original = responses.get_stack_from_s3_url

    def get(url: str, account_id: str, partition: str) -> str:
        host = urlparse(url).hostname or ""
        if re.fullmatch(r"[0-9.]+", host):
            url = url.replace(host, "localhost", 1)
        return str(original(url, account_id=account_id, partition=partition))

    responses.get_stack_from_s3_url = get


def _outputs_after_change_sets(models: Any) -> None:
    """Outputs are what a change set's template declares, as after CreateStack (moto keeps the stack's old ones)."""
    original = models.ChangeSet.apply

    def apply(change_set: Any) -> None:
        original(change_set)
        stack = change_set.stack
        stack.output_map = models.OutputMap(stack.resource_map, change_set.template_dict, stack.stack_id)

    models.ChangeSet.apply = apply


def _custom_resources(parsing: Any) -> None:
    """moto answers every ``Custom::`` type with its own model, which invokes the function in Docker and waits for
    its response: ours is run in-process instead."""
    original = parsing.resource_class_from_type

    def resolve(resource_type: str) -> Any:
        return _SecretParameter if resource_type == SECRET_PARAMETER else original(resource_type)

    parsing.resource_class_from_type = resolve


def install() -> None:
    """Idempotent: moto keeps the models in module state, so the shim is added once per process."""
    global _installed
    if _installed:
        return
    from moto.awslambda.models import LambdaFunction, LayerVersion
    from moto.cloudformation import models, parsing, responses
    from moto.dynamodb.models.table import Table
    from moto.events.models import EventBus
    from moto.stepfunctions.models import StateMachine

    _wrap(Table, after=_table_settings)
    _wrap(LambdaFunction, after=_function_settings)
    _wrap(StateMachine, before=_state_machine_definition)
    # a bus's Ref is its name in AWS; moto gives the object itself, which a rule naming the bus cannot use
    EventBus.physical_resource_id = property(lambda bus: bus.name)  # type: ignore[attr-defined]
    # a layer version's Ref is its ARN (what a function's Layers name); moto gives the object
    LayerVersion.physical_resource_id = property(lambda layer: layer.arn)  # type: ignore[attr-defined]
    _wrap(LayerVersion, after=_layer_settings)
    _name_failures(parsing)
    _path_style_templates(responses)
    _outputs_after_change_sets(models)
    _custom_resources(parsing)
    for resource_type, create in _CREATORS.items():
        _model(resource_type, create)
    # moto lists CloudFormationModel's subclasses once and caches them: the models above join on a fresh listing
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    _installed = True
