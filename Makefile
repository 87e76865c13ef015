# OnCall Hub. `make run` starts the product locally; `make test` runs every check CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv manages the environment. When it is not installed, bootstrap it into a private venv (pip into a distro Python is
# refused by PEP 668), preferring an installed Python 3.13/3.12.
TOOLS := .tools
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
# The project's interpreter: an installed 3.13 (Lambda's runtime) or 3.12, found on PATH or in pyenv's versions and
# checked to run (a pyenv shim without that version selected does not); uv never downloads one.
FIND_PYTHON = for v in 3.13 3.12; do for c in $$(command -v python$$v) $$HOME/.pyenv/versions/$$v*/bin/python$$v \
	/usr/local/bin/python$$v /usr/bin/python$$v; do [ -x "$$c" ] && "$$c" -c 'import sys; print(sys.executable)' \
	2>/dev/null && exit 0; \
	done; done
PYTHON := $(shell $(FIND_PYTHON))
ifeq ($(PYTHON),)
$(error Python 3.12 or 3.13 is required: install one (e.g. apt-get install python3.12, or pyenv install 3.13))
endif
BOOT_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
# Two pytest workers (the machines have 2 cores); a module stays on one worker so its runner fixture starts once.
PYTEST_ARGS ?= -n 2 --dist loadfile
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: help run test lint fmt sync sync-dev system-deps browser layer synth diff deploy deploy-local destroy bench bench-quick tg demo clean

help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(TOOLS)/bin/uv:
	$(BOOT_PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

sync: $(if $(filter $(TOOLS)/bin/uv,$(UV)),$(TOOLS)/bin/uv) ## install what running needs (runtime + local runner)
	$(UV) sync --frozen --inexact --python $(PYTHON)

sync-dev: $(if $(filter $(TOOLS)/bin/uv,$(UV)),$(TOOLS)/bin/uv) ## install everything: tests, linters, CDK
	$(UV) sync --frozen --all-groups --python $(PYTHON)

run: sync ## start OnCall Hub locally on emulated AWS (http://127.0.0.1:8000)
	$(UV) run --no-sync python -m infra.local $(ARGS)

# What the tests drive besides Python: a real Chromium (the console's browser tests, through Playwright), a real
# Prometheus Alertmanager (alert routing's e2e tests) and jq (README's shell examples). Debian's packages, installed
# in ONE apt run where apt can (as root, or with sudo that needs no password), because CI reaches only the package
# registries. Elsewhere Playwright downloads its own Chromium (the internet, once), and Alertmanager 0.25+ and jq are
# yours to install (on PATH; ONCALL_CHROMIUM / ONCALL_ALERTMANAGER name other binaries): the tests that need them fail
# saying so rather than skip. The Alertmanager the package starts as a system service is not the tests' (they start
# their own on free ports).
system-deps: ## install (where apt can) the Chromium, Alertmanager and jq the tests drive
	@missing=""; \
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || [ -n "$$ONCALL_CHROMIUM" ] || \
	  missing="$$missing chromium"; \
	command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null || \
	  [ -n "$$ONCALL_ALERTMANAGER" ] || missing="$$missing prometheus-alertmanager"; \
	command -v jq >/dev/null || missing="$$missing jq"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  elif command -v apt-get >/dev/null && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "apt cannot install$$missing here: install them yourself (see README, Development)" >&2; fi; \
	fi

browser: sync-dev system-deps ## make sure a Chromium is there for the console's browser tests
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || [ -n "$$ONCALL_CHROMIUM" ] || \
	  $(UV) run --no-sync playwright install chromium

test: sync-dev system-deps browser ## lint, type-check and run the whole test suite (what CI runs)
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .
	$(UV) run --no-sync mypy
	$(UV) run --no-sync pytest $(PYTEST_ARGS)

lint: sync-dev ## ruff + mypy only
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync mypy

fmt: sync-dev ## format and autofix
	$(UV) run --no-sync ruff format .
	$(UV) run --no-sync ruff check --fix .

layer: sync-dev ## build the arm64 dependency layer (no Docker) into layers/deps
	$(UV) run --no-sync python -m infra.build_layer

# The layer is rebuilt when the lock file or its recipe changes (not on every synth: a synth needs no network once it
# is built).
LAYER_STAMP := layers/deps/oncall-layer.json
$(LAYER_STAMP): uv.lock infra/build_layer.py infra/bytecode.py
	$(MAKE) layer

# The CDK CLI pinned in infra/cli (2.x; 3.x cannot read these assemblies). The stamp avoids re-running npm ci:
# npm gives installed files a fixed 1985 mtime, so the binary itself always looks older than the lock.
CDK_STAMP := infra/cli/node_modules/.installed
$(CDK_STAMP): infra/cli/package-lock.json
	npm ci --prefix infra/cli --no-audit --no-fund
	touch $@
CDK := npx --prefix infra/cli cdk

# ARGS reaches the CDK CLI: settings as context, e.g. make deploy ARGS="-c oncall:publicUrl=https://oncall.example.com"
synth: sync-dev $(LAYER_STAMP) $(CDK_STAMP) ## synthesize the CloudFormation template (offline once the layer is built): make synth [ARGS="-c oncall:key=value ..."]
	$(CDK) synth $(ARGS)

diff: sync-dev $(LAYER_STAMP) $(CDK_STAMP) ## cdk diff against the deployed stack: make diff [ARGS="-c oncall:key=value ..."]
	$(CDK) diff $(ARGS)

deploy: sync-dev $(LAYER_STAMP) $(CDK_STAMP) ## deploy to the AWS account of your current credentials: make deploy [ARGS="-c oncall:key=value ..."]
	$(CDK) deploy $(ARGS)

# The same CLI into moto's server on a free loopback port (with the project's shim, infra/local/deploy/): bootstrap,
# deploy, then every resolved value of the deployed account checked; no AWS account, no Docker (README "Deploy to AWS")
deploy-local: sync-dev $(LAYER_STAMP) $(CDK_STAMP) ## deploy into an emulated account and inspect it: make deploy-local [ARGS="-c oncall:key=value ..."]
	$(UV) run --no-sync python -m infra.local.deploy --cdk "$(CDK)" -- $(ARGS)

destroy: sync-dev $(LAYER_STAMP) $(CDK_STAMP) ## delete the deployed stack (tables are retained; the app is synthesized first, with the same ARGS)
	$(CDK) destroy $(ARGS)

.PHONY: backfill-stats
backfill-stats: sync ## count incidents stored before the statistics rollups: make backfill-stats [STACK=OnCallHub] [ARGS=--since 2025-01-01]
	$(UV) run --no-sync python -m infra.stats_backfill $(if $(STACK),--stack "$(STACK)") $(ARGS)

.PHONY: admin
admin: sync ## create an admin in the deployed stack with your AWS credentials: make admin [USERNAME=admin] [STACK=OnCallHub] [ARGS=--generate|--reset|--password-stdin]
	$(UV) run --no-sync python -m infra.admin --username "$(or $(USERNAME),admin)" $(if $(STACK),--stack "$(STACK)") $(ARGS)

.PHONY: import
import: sync ## import from the tool you are leaving, a dry run unless ARGS has --apply: make import SOURCE=pagerduty [ARGS="--apply --verify"]
	$(UV) run --no-sync python -m infra.migrate $(or $(SOURCE),pagerduty) $(ARGS)

.PHONY: export apply
export: sync ## write the on-call setup (teams, schedules, rotations, policies, services; no secrets) as YAML: make export [FILE=oncall.yaml] [ARGS="--as admin"]
	$(UV) run --no-sync python -m infra.migrate export $(if $(FILE),--out "$(FILE)") $(ARGS)

apply: sync ## apply such a YAML file, printing the diff: make apply FILE=oncall.yaml [DRY=1 only prints it] [ARGS="--as admin"]
	$(UV) run --no-sync python -m infra.migrate config --file "$(FILE)" $(if $(DRY),,--apply) $(ARGS)

tg: ## act as a Telegram user in the local sandbox: make tg TEXT="/help" [CHAT=1] (or DATA=<callback_data>); the runner on ONCALL_HTTP_PORT (8000), or URL=
	@$(UV) run --no-sync python -m infra.local.telegram --url "$(or $(URL),http://127.0.0.1:$(or $(ONCALL_HTTP_PORT),8000))" \
		--chat "$(or $(CHAT),1)" $(if $(DATA),--callback-data "$(DATA)",--text "$(or $(TEXT),/help)")

.PHONY: telegram-webhook
telegram-webhook: sync ## register the bot's webhook (URL + secret) with Telegram after a deploy: make telegram-webhook [STACK=OnCallHub] [URL=https://...] [ARGS=--token-stdin|--delete]
	$(UV) run --no-sync python -m infra.telegram_webhook $(if $(STACK),--stack "$(STACK)") $(if $(URL),--url "$(URL)") $(ARGS)

demo: sync ## fill the running local instance with a small organisation and play a scenario (ONCALL_ADMIN_PASSWORD=...)
	$(UV) run --no-sync python -m infra.local.demo --url "$(or $(URL),http://127.0.0.1:$(or $(ONCALL_HTTP_PORT),8000))" $(ARGS)

bench: sync-dev ## run the benchmarks; each prints a table
	for b in bench/[!_]*.py; do echo "== $$b"; $(UV) run --no-sync python $$b || exit 1; done

# the performance goals' numbers in under 3 minutes on 2 cores: cold imports, alert -> page through the runner,
# DynamoDB calls per alert and alerts/s through the runner
bench-quick: sync-dev ## the fast benchmarks in under 3 minutes: cold imports, alert -> page latency, calls per alert, alerts/s
	$(UV) run --no-sync python bench/cold_start.py --runs 5
	$(UV) run --no-sync python bench/latency.py --alerts 30 --rates 1,5 --warm-seconds 5
	ONCALL_METRICS_EMF=off $(UV) run --no-sync python bench/alerts.py --seconds 3

clean: ## remove build output and local state
	rm -rf cdk.out layers/deps .pytest_cache .mypy_cache .ruff_cache
