"""Inspect a deployed OnCall Hub stack through boto3 and check its resolved values against ``infra/topology.py``.

Long because it is one list of checks, one small method per kind of resource, each naming what it found: the stack
and every resource of its template, tables, functions, queues, rules, the state machine, the HTTP API, alarms and
the dashboard (against the ``oncall:alarms`` and ``oncall:dashboard`` the stack was deployed with), the secret
parameters and their writer, and every IAM statement. It reads any account (moto's, or a real one with
``--endpoint-url`` left out) and never writes; a secret's value is read only to see that it is not empty, and never
shown. docs/architecture.md, "The emulated deploy".
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from infra.local.deploy.arns import Existence
from infra.settings import StackSettings
from infra.topology import Topology

RUNTIME = "python3.13"
ARCHITECTURE = "arm64"
SECRET_PARAMETER = "Custom::SecretParameter"  # noqa: S105 - a resource type, not a secret
#: the function whose errors ``oncall:alarms=failures`` watches, as infra/constructs/alarms.py (which imports the CDK;
#: tests/infra/test_deploy.py holds the two equal)
ANSWERING_FUNCTION = "api"


@dataclass(frozen=True)
class Check:
    resource: str
    what: str
    ok: bool
    detail: str = ""


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def table(self, *, every_check: bool = False) -> str:
        """One line per resource (how many checks it passed), then every failed check in full; ``every_check``
        lists every check instead."""
        rows: dict[str, list[Check]] = {}
        for c in self.checks:
            rows.setdefault(c.resource, []).append(c)
        lines = [f"{'':4}  {'resource':<60}  checks  failed"]
        for resource, checks in rows.items():
            failed = [c for c in checks if not c.ok]
            lines.append(f"{'FAIL' if failed else 'ok':4}  {resource[:60]:<60}  {len(checks):>6}  {len(failed):>6}")
            shown = checks if every_check else failed
            lines.extend(f"{'':6}{'ok' if c.ok else 'FAIL'}: {c.what}: {c.detail}" for c in shown)
        lines.append(f"{len(rows)} resources and declarations, {len(self.checks)} checks, {len(self.failures)} failed")
        return "\n".join(lines)


class Inspector:
    def __init__(
        self,
        clients: Callable[[str], Any],
        stack_name: str,
        topology: Topology,
        settings: StackSettings | None = None,
    ) -> None:
        """``settings``: the stack's knobs it was deployed with (the alarms and dashboard expected); the defaults
        when not given."""
        self._client = clients
        self.stack_name = stack_name
        self.topology = topology
        self.settings = settings if settings is not None else StackSettings.model_validate({})
        self.report = Report()
        self.exists = Existence(clients)
        self._logical: dict[str, str] = {}
        self._by_type: dict[str, dict[str, str]] = {}
        self.outputs: dict[str, str] = {}
        self._declared: dict[str, Any] = {}

    def check(self, resource: str, what: str, ok: bool, detail: str = "") -> bool:
        self.report.checks.append(Check(resource, what, ok, detail))
        return ok

    def label(self, physical: str) -> str:
        """A resource as a reader finds it in the template: its logical id (the physical name when it has none)."""
        return self._logical.get(physical, physical)

    def exists_check(self, resource: str, what: str, arn_or_name: str, kind: str | None = None) -> bool:
        problem = self.exists.problem(arn_or_name, kind)
        return self.check(resource, what, problem is None, problem or arn_or_name)

    def run(self) -> Report:
        if not self._stack():
            return self.report
        for step in (
            self._tables,
            self._functions,
            self._queues,
            self._event_sources,
            self._rules,
            self._state_machines,
            self._api,
            self._alarms,
            self._dashboard,
            self._secrets,
            self._policies,
        ):
            try:
                step()
            except ClientError as exc:
                self.check(self.stack_name, step.__name__.strip("_"), False, f"could not be read: {exc}")
        return self.report

    def _stack(self) -> bool:
        cfn = self._client("cloudformation")
        try:
            stack = cfn.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        except ClientError as exc:
            return self.check(self.stack_name, "stack exists", False, str(exc))
        status = stack["StackStatus"]
        ok = self.check(self.stack_name, "stack status", status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), status)
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        summaries = [
            s
            for page in cfn.get_paginator("list_stack_resources").paginate(StackName=self.stack_name)
            for s in page["StackResourceSummaries"]
        ]
        for s in summaries:
            physical = s.get("PhysicalResourceId", "")
            self._logical[physical] = s["LogicalResourceId"]
            self._by_type.setdefault(s["ResourceType"], {})[s["LogicalResourceId"]] = physical
        template = cfn.get_template(StackName=self.stack_name)["TemplateBody"]
        declared = (json.loads(template) if isinstance(template, str) else template)["Resources"]
        self._declared = declared
        created = {s["LogicalResourceId"]: s["ResourceStatus"] for s in summaries}
        for logical_id, resource in declared.items():
            status = created.get(logical_id, "not created")
            self.check(
                logical_id, f"created ({resource['Type']})", status.endswith("_COMPLETE") and "DELETE" not in status
            )
        return ok

    def physical(self, resource_type: str) -> dict[str, str]:
        return self._by_type.get(resource_type, {})

    def _tables(self) -> None:
        ddb = self._client("dynamodb")
        for decl in self.topology.tables:
            key = "Table" + "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", decl.name) if p)
            name = self.outputs.get(f"{key}Name")
            if not self.check(f"table {decl.name}", "stack output", name is not None, f"{key}Name"):
                continue
            assert name is not None
            label = self.label(name)
            table = ddb.describe_table(TableName=name)["Table"]
            self.check(label, "status", table["TableStatus"] == "ACTIVE", table["TableStatus"])
            self.check(label, "on-demand", table.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST")
            found = {ix["IndexName"]: ix["KeySchema"] for ix in table.get("GlobalSecondaryIndexes", [])}
            for ix in decl.indexes:
                keys = [{"AttributeName": ix.pk, "KeyType": "HASH"}]
                keys += [{"AttributeName": ix.sk, "KeyType": "RANGE"}] if ix.sk else []
                self.check(label, f"index {ix.name}", found.get(ix.name) == keys, str(found.get(ix.name, "missing")))
            self.check(label, "no undeclared index", set(found) <= {ix.name for ix in decl.indexes}, str(sorted(found)))
            stream = table.get("StreamSpecification", {})
            wants_stream = decl.stream_consumer is not None
            self.check(
                label,
                "stream",
                bool(stream.get("StreamEnabled")) == wants_stream
                and (not wants_stream or stream.get("StreamViewType") == "NEW_AND_OLD_IMAGES"),
                str(stream or "none"),
            )
            ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if decl.ttl_attribute:
                ok = ttl.get("TimeToLiveStatus") == "ENABLED" and ttl.get("AttributeName") == decl.ttl_attribute
                self.check(label, f"TTL on {decl.ttl_attribute}", ok, str(ttl))
            backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
            pitr = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
            self.check(label, "point-in-time recovery", pitr == "ENABLED", str(pitr))

    def _functions(self) -> None:
        lam = self._client("lambda")
        layers = set(self.physical("AWS::Lambda::LayerVersion").values())
        deployed: dict[str, dict[str, Any]] = {}
        for name in self.physical("AWS::Lambda::Function").values():
            config = lam.get_function_configuration(FunctionName=name)
            service = config.get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME", "")
            if service.startswith("oncall-"):  # the secret parameters' writer is not declared: _secrets checks it
                deployed[service.removeprefix("oncall-")] = config
        for decl in self.topology.functions:
            config = deployed.get(decl.name)
            if not self.check(f"function {decl.name}", "deployed", config is not None):
                continue
            assert config is not None
            label = self.label(config["FunctionName"])
            self.check(label, "handler", config.get("Handler") == decl.handler, str(config.get("Handler")))
            self.check(label, "runtime", config.get("Runtime") == RUNTIME, str(config.get("Runtime")))
            self.check(
                label, "architecture", config.get("Architectures") == [ARCHITECTURE], str(config.get("Architectures"))
            )
            self.check(label, "timeout", config.get("Timeout") == decl.timeout_s, f"{config.get('Timeout')} s")
            attached = {layer["Arn"] for layer in config.get("Layers", [])}
            self.check(
                label, "layers", attached == layers and bool(layers), f"{len(attached)} of the stack's {len(layers)}"
            )
            for arn in sorted(attached):
                self.exists_check(label, "layer exists", arn)
            self.exists_check(label, "role exists", config["Role"])
            self._environment(label, decl.name, config.get("Environment", {}).get("Variables", {}))
            try:
                invoke = lam.get_function_event_invoke_config(FunctionName=config["FunctionName"])
            except ClientError:
                continue
            target = invoke.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if target:
                self.exists_check(label, "async on-failure destination", target)

    def _environment(self, label: str, function: str, variables: dict[str, str]) -> None:
        decl = next(f for f in self.topology.functions if f.name == function)
        expected: dict[str, str] = {self.topology.table(t).env_var: "table" for t in decl.tables}
        expected |= {self.topology.state_machine(s).env_var: "state machine" for s in decl.state_machines}
        expected |= {s.env_var: "secret" for s in self.topology.secrets if s.name in decl.secrets}
        expected |= {self.topology.queue(q).env_var: "queue" for q in decl.queues}
        expected["ONCALL_BUS_NAME"] = "bus"
        parameters = set(self.physical(SECRET_PARAMETER).values())
        for variable, kind in sorted(expected.items()):
            value = variables.get(variable)
            if self.check(label, f"env {variable}", value is not None, "set" if value else "missing"):
                assert value is not None
                self.exists_check(label, f"env {variable} names a {kind} that exists", value, kind)
                if kind == "secret":
                    self.check(label, f"env {variable} is one of the stack's parameters", value in parameters, value)
        for variable, value in sorted(variables.items()):
            if variable not in expected and value.startswith("arn:"):
                self.exists_check(label, f"env {variable} names what exists", value)

    def _queues(self) -> None:
        sqs, lam = self._client("sqs"), self._client("lambda")
        timeouts = {
            c["FunctionArn"]: c["Timeout"]
            for page in lam.get_paginator("list_functions").paginate()
            for c in page["Functions"]
        }
        for url in self.physical("AWS::SQS::Queue").values():
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            arn = attributes["QueueArn"]
            label = self.label(url)
            self.check(label, "resource policy", "Policy" in attributes, "set" if "Policy" in attributes else "none")
            mappings = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
            for mapping in mappings:
                consumer = mapping["FunctionArn"]
                self.exists_check(label, "consumer exists", consumer)
                visibility, timeout = int(attributes["VisibilityTimeout"]), timeouts.get(consumer, 0)
                self.check(
                    label,
                    "visibility timeout >= consumer's timeout",
                    visibility >= timeout,
                    f"{visibility} s vs {consumer.rsplit(':', 1)[-1]} {timeout} s",
                )
                redrive = json.loads(attributes.get("RedrivePolicy", "{}"))
                if self.check(label, "dead-letter queue", "deadLetterTargetArn" in redrive, str(redrive or "none")):
                    self.exists_check(label, "dead-letter queue exists", redrive["deadLetterTargetArn"])

    def _event_sources(self) -> None:
        lam = self._client("lambda")
        for uuid in self.physical("AWS::Lambda::EventSourceMapping").values():
            label = self.label(uuid)
            mapping = lam.get_event_source_mapping(UUID=uuid)
            self.exists_check(label, "function exists", mapping["FunctionArn"])
            self.exists_check(label, "source exists", mapping["EventSourceArn"])
            failures = mapping.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if failures:
                self.exists_check(label, "on-failure destination exists", failures)

    def _rules(self) -> None:
        events = self._client("events")
        declared = {f"OnCall Hub rule '{r.name}'": r for r in self.topology.rules}
        schedules = {f"OnCall Hub schedule '{s.name}'": s for s in self.topology.schedules}
        names = set(self.physical("AWS::Events::Rule").values())
        found: set[str] = set()
        buses = ["default", *self.physical("AWS::Events::EventBus").values()]
        for bus in buses:
            for rule in events.list_rules(EventBusName=bus).get("Rules", []):
                if rule["Name"] not in names and rule.get("Arn") not in names:
                    continue
                label = self.label(rule["Name"]) if rule["Name"] in self._logical else self.label(rule["Arn"])
                description = rule.get("Description", "")
                found.add(description)
                if "EventPattern" in rule:
                    problem = pattern_problem(json.loads(rule["EventPattern"]))
                    self.check(label, "event pattern valid", problem is None, problem or rule["EventPattern"])
                    decl = declared.get(description)
                    if decl is not None:
                        wanted = "oncall" if decl.bus == "oncall" else "default"
                        self.check(label, "bus", (bus == "default") == (wanted == "default"), bus)
                        same = json.loads(rule["EventPattern"]) == decl.pattern
                        self.check(label, "pattern as declared", same, rule["EventPattern"])
                else:
                    expression = rule.get("ScheduleExpression", "")
                    valid = re.fullmatch(r"(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))", expression)
                    self.check(label, "schedule expression", bool(valid), expression)
                targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
                self.check(label, "has targets", bool(targets), f"{len(targets)}")
                for target in targets:
                    self.exists_check(label, f"target {target['Id']} exists", target["Arn"])
                    if "DeadLetterConfig" in target:
                        self.exists_check(label, f"target {target['Id']} DLQ exists", target["DeadLetterConfig"]["Arn"])
                    if "RoleArn" in target:
                        self.exists_check(label, f"target {target['Id']} role exists", target["RoleArn"])
        for description in sorted(set(declared) | set(schedules)):
            self.check(description.removeprefix("OnCall Hub "), "deployed", description in found)

    def _state_machines(self) -> None:
        sfn = self._client("stepfunctions")
        for decl in self.topology.state_machines:
            arn = (
                f"arn:aws:states:{self.exists.region}:{self.exists.account}:stateMachine:{self.stack_name}-{decl.name}"
            )
            label = self.label(arn)
            try:
                machine = sfn.describe_state_machine(stateMachineArn=arn)
            except ClientError as exc:
                self.check(label, "exists", False, str(exc))
                continue
            self.exists_check(label, "role exists", machine["roleArn"])
            try:
                definition = json.loads(machine["definition"])
            except ValueError as exc:
                self.check(label, "definition is JSON", False, str(exc))
                continue
            left = sorted(set(re.findall(r"\$\{[A-Za-z0-9_]+\}", machine["definition"])))
            self.check(label, "every placeholder substituted", not left, ", ".join(left) or "none left")
            for problem in asl_problems(definition):
                self.check(label, "definition", False, problem)
            for resource in sorted(set(asl_functions(definition))):
                self.exists_check(label, "task function exists", resource)

    def _api(self) -> None:
        api = self._client("apigatewayv2")
        for api_id in self.physical("AWS::ApiGatewayV2::Api").values():
            label = self.label(api_id)
            endpoint = api.get_api(ApiId=api_id)["ApiEndpoint"]
            self.check(label, "ApiUrl output", self.outputs.get("ApiUrl") == endpoint, endpoint)
            routes = {r["RouteKey"]: r for r in api.get_routes(ApiId=api_id)["Items"]}
            integrations = {i["IntegrationId"]: i for i in api.get_integrations(ApiId=api_id)["Items"]}
            for decl in self.topology.routes:
                self.check(label, f"route {decl.route_key}", decl.route_key in routes)
            for key, route in sorted(routes.items()):
                target = route.get("Target", "")
                integration = integrations.get(target.removeprefix("integrations/"))
                where = self.label(route["RouteId"])
                if self.check(where, f"route {key} integration", integration is not None, target or "no target"):
                    assert integration is not None
                    self.exists_check(where, f"route {key} function exists", integration["IntegrationUri"])
            for stage in api.get_stages(ApiId=api_id)["Items"]:
                for key in stage.get("RouteSettings", {}):
                    self.check(label, f"stage {stage['StageName']} throttles an existing route", key in routes, key)

    def _alarms(self) -> None:
        cloudwatch, sqs = self._client("cloudwatch"), self._client("sqs")
        names = list(self.physical("AWS::CloudWatch::Alarm").values())
        alarms = cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"] if names else []
        self.check(self.stack_name, "alarms", len(alarms) == len(names), f"{len(alarms)} of {len(names)}")
        for alarm in alarms:
            label = self.label(alarm["AlarmName"])
            self.check(label, "has actions", bool(alarm.get("AlarmActions")))
            for action in alarm.get("AlarmActions", []):
                self.exists_check(label, "action exists", action)
            for dimension in alarm.get("Dimensions", []):
                kind = {"FunctionName": "function", "QueueName": "queue name", "StateMachineArn": "state machine"}
                if dimension["Name"] in kind:
                    what = kind[dimension["Name"]]
                    self.exists_check(label, f"watches a {what} that exists", dimension["Value"], what)
        self._alarms_as_configured(alarms, sqs)

    def _alarms_as_configured(self, alarms: list[dict[str, Any]], sqs: Any) -> None:
        """The alarms ``oncall:alarms`` asks for, no fewer and no more: ``failures`` every dead-letter queue, the
        answering function's errors and each workflow's failed executions; ``all`` every function's errors too;
        ``off`` none (and no topic)."""
        mode = self.settings.alarms
        where = f"oncall:alarms={mode}"
        watched: dict[tuple[str, str], str] = {}
        for alarm in alarms:
            for dimension in alarm.get("Dimensions", []):
                value = dimension["Value"]
                if dimension["Name"] == "StateMachineArn":
                    value = value.rsplit(":", 1)[-1]
                watched[(alarm["MetricName"], value)] = alarm["AlarmName"]
        expected: dict[tuple[str, str], str] = {}
        if mode != "off":
            functions = self._deployed_functions()
            for decl in self.topology.functions:
                if (mode == "all" or decl.name == ANSWERING_FUNCTION) and decl.name in functions:
                    expected[("Errors", functions[decl.name])] = f"function {decl.name}"
            for machine in self.topology.state_machines:
                expected[("ExecutionsFailed", f"{self.stack_name}-{machine.name}")] = f"state machine {machine.name}"
            for url in self.physical("AWS::SQS::Queue").values():
                attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "RedrivePolicy"])
                if "RedrivePolicy" not in attributes.get("Attributes", {}):
                    expected[("ApproximateNumberOfMessagesVisible", url.rsplit("/", 1)[-1])] = self.label(url)
        for (metric, value), resource in sorted(expected.items()):
            self.check(resource, f"alarm on {metric} ({where})", (metric, value) in watched, value)
        for key, name in sorted(watched.items()):
            if key not in expected:
                self.check(self.label(name), f"expected with {where}", False, f"watches {key[0]} of {key[1]}")
        has_topic = "AlarmTopicArn" in self.outputs
        self.check(self.stack_name, f"alarm topic ({where})", has_topic == (mode != "off"), str(has_topic))

    def _deployed_functions(self) -> dict[str, str]:
        """Declared name → deployed function name."""
        lam = self._client("lambda")
        found: dict[str, str] = {}
        for name in self.physical("AWS::Lambda::Function").values():
            variables = lam.get_function_configuration(FunctionName=name).get("Environment", {}).get("Variables", {})
            service = variables.get("POWERTOOLS_SERVICE_NAME", "")
            if service.startswith("oncall-"):
                found[service.removeprefix("oncall-")] = name
        return found

    def _dashboard(self) -> None:
        cloudwatch = self._client("cloudwatch")
        dashboards = self.physical("AWS::CloudWatch::Dashboard")
        wanted = self.settings.dashboard
        self.check(
            self.stack_name,
            f"dashboard (oncall:dashboard={str(wanted).lower()})",
            bool(dashboards) == wanted,
            f"{len(dashboards)} in the stack",
        )
        for name in dashboards.values():
            try:
                body = cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"]
            except ClientError as exc:
                self.check(self.label(name), "exists", False, str(exc))
                continue
            self.check(self.label(name), "has widgets", bool(json.loads(body).get("widgets")))

    def _secrets(self) -> None:
        ssm = self._client("ssm")
        parameters = self.physical(SECRET_PARAMETER)
        for decl in self.topology.secrets:
            key = "Secret" + "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", decl.name) if p)
            name = self.outputs.get(f"{key}Parameter")
            if not self.check(f"secret {decl.name}", "stack output", name is not None, f"{key}Parameter"):
                continue
            assert name is not None
            label = self.label(name)
            ours = name == f"/{self.stack_name}/secrets/{decl.name}" and name in parameters.values()
            self.check(label, "the stack's own parameter", ours, name)
            try:
                parameter = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
            except ClientError as exc:
                self.check(label, "exists", False, f"{name}: {exc.response['Error'].get('Code')}")
                continue
            self.check(label, "SecureString", parameter.get("Type") == "SecureString", str(parameter.get("Type")))
            # the value itself is never shown, not even its length
            self.check(
                label, "holds a value", bool(parameter.get("Value")), "not empty" if parameter.get("Value") else "empty"
            )
        for logical_id, name in sorted(parameters.items()):
            self._secret_writer(logical_id, name)

    def _secret_writer(self, logical_id: str, name: str) -> None:
        """The function CloudFormation asks to create and delete the parameter: ours, and allowed to do both."""
        token = self._declared.get(logical_id, {}).get("Properties", {}).get("ServiceToken", {})
        writer_id = token.get("Fn::GetAtt", [""])[0] if isinstance(token, dict) else ""
        function = self.physical("AWS::Lambda::Function").get(writer_id)
        if not self.check(logical_id, "ServiceToken is a function of the stack", function is not None, str(token)):
            return
        assert function is not None
        config = self._client("lambda").get_function_configuration(FunctionName=function)
        self.check(logical_id, "writer handler", config.get("Handler") == "index.handler", str(config.get("Handler")))
        self.check(logical_id, "writer runtime", config.get("Runtime") == RUNTIME, str(config.get("Runtime")))
        arn = f"arn:aws:ssm:{self.exists.region}:{self.exists.account}:parameter/{name.lstrip('/')}"
        allowed = self._allowed(config["Role"].rsplit("/", 1)[-1], arn)
        for action in ("ssm:PutParameter", "ssm:DeleteParameter"):
            may = any(fnmatch.fnmatchcase(action, pattern) for pattern in allowed)
            self.check(logical_id, f"writer may {action}", may, arn)

    def _allowed(self, role: str, resource: str) -> set[str]:
        """The actions the role's inline policies allow on ``resource`` (patterns matched as IAM does)."""
        iam = self._client("iam")
        allowed: set[str] = set()
        for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
            document = json.loads(document) if isinstance(document, str) else document
            for statement in _as_list(document.get("Statement", [])):
                resources = _as_list(statement.get("Resource", []))
                if statement.get("Effect") == "Allow" and any(fnmatch.fnmatchcase(resource, r) for r in resources):
                    allowed |= {a for a in _as_list(statement.get("Action", [])) if isinstance(a, str)}
        return allowed

    def _policies(self) -> None:
        iam = self._client("iam")
        for role in sorted(self.physical("AWS::IAM::Role").values()):
            label = self.label(role)
            for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
                document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
                document = json.loads(document) if isinstance(document, str) else document
                for statement in _as_list(document.get("Statement", [])):
                    for action in _as_list(statement.get("Action", [])):
                        problem = self.exists.action_problem(action)
                        self.check(label, f"action {action}", problem is None, problem or policy)
                    for resource in _as_list(statement.get("Resource", [])):
                        if resource != "*":
                            self.exists_check(label, "policy names what exists", resource)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def pattern_problem(pattern: Any, path: str = "") -> str | None:
    """What EventBridge would refuse in an event pattern: every leaf must be a non-empty list of matchers."""
    if not isinstance(pattern, dict) or not pattern:
        return f"{path or 'pattern'} must be a non-empty object"
    for key, value in pattern.items():
        where = f"{path}.{key}" if path else key
        if isinstance(value, dict):
            problem = pattern_problem(value, where)
            if problem:
                return problem
        elif not isinstance(value, list) or not value:
            return f"{where} must be a non-empty list of values, got {value!r}"
    return None


def _states(definition: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str, dict[str, Any]]]:
    """(the states map it belongs to, name, state) for every state, inside Parallel branches and Map processors."""
    states = definition.get("States", {})
    for name, state in states.items():
        yield states, name, state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        for inner in (state.get("Iterator"), state.get("ItemProcessor")):
            if inner:
                yield from _states(inner)


def asl_problems(definition: dict[str, Any]) -> list[str]:
    """Transitions that name no state and states nothing reaches or that never end: what Step Functions refuses."""
    problems: list[str] = []
    if definition.get("StartAt") not in definition.get("States", {}):
        problems.append(f"StartAt {definition.get('StartAt')!r} names no state")
    for states, name, state in _states(definition):
        targets = [state.get("Next"), state.get("Default")]
        targets += [c.get("Next") for c in state.get("Choices", [])] + [c.get("Next") for c in state.get("Catch", [])]
        for target in targets:
            if target is not None and target not in states:
                problems.append(f"state {name!r} goes to {target!r}, which is not a state")
        ends = state.get("End") or state.get("Type") in ("Succeed", "Fail", "Choice") or "Next" in state
        if not ends:
            problems.append(f"state {name!r} has neither Next nor End")
    return problems


def asl_functions(definition: dict[str, Any]) -> Iterator[str]:
    """Every Lambda function a task invokes (directly, or through the optimised integration's FunctionName)."""
    for _, _, state in _states(definition):
        resource = state.get("Resource", "")
        if resource.startswith("arn:aws:lambda:"):
            yield resource
        function = state.get("Parameters", {}).get("FunctionName") or state.get("Arguments", {}).get("FunctionName")
        if isinstance(function, str) and not function.startswith("{%"):
            yield function
