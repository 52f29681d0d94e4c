# One Makefile for people, CI and `sam build` (BuildMethod: makefile calls the
# build-<LogicalId> targets with ARTIFACTS_DIR set).

SHELL := /bin/bash
GO ?= go
# Lambda runs arm64 (template.yaml: Architectures). Not ?=: an exported GOARCH
# (amd64 on a laptop) must not build x86 binaries for arm64 functions, which
# would fail to start. Tests build for the host with `make LAMBDA_GOARCH=amd64`
# (a command-line variable wins over this assignment).
LAMBDA_GOARCH := arm64
ARTIFACTS_DIR ?= $(CURDIR)/.build

CACHE := $(CURDIR)/.cache
DYNAMODB_SIMULATOR_VERSION := 2.9.30
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
# The AWS SDK for JavaScript v3 of local/testdata/nodeapp (local/apps_test.go).
AWS_SDK_JS_VERSION := 3.1178.0
# axe-core, which the browser tests inject into the page (web/a11y_test.go
# reads this line).
AXE_CORE_VERSION := 4.14.1

.PHONY: run test test-deps lint policy build clean \
	build-ConnectFunction build-DisconnectFunction build-MessageFunction build-DefaultFunction build-HistoryFunction build-PresenceFunction build-FanoutFunction \
	build-AuthorizerFunction

## run: the whole chat locally, no AWS (http://localhost:8080/)
run:
	$(GO) run ./local

## test: install test dependencies, then vet, every test (with -race) and cfn-lint
test: test-deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...
	@# Under -race the load test's room is 100 clients; this runs it at 1,000.
	$(GO) test -count=1 -run '^TestLoadOneRoom$$' ./internal/gateway/
	@command -v cfn-lint >/dev/null || { echo "cfn-lint not found: pip install cfn-lint"; exit 1; }
	cfn-lint template.yaml
	$(MAKE) --no-print-directory policy

## policy: the cdk-nag gate (AwsSolutions, Serverless) on the SAM-transformed template
policy: $(CACHE)/policy/node_modules/.package-lock.json
	@python3 -c 'import samtranslator' 2>/dev/null || { echo "policy: aws-sam-translator is missing: pip install aws-sam-translator"; exit 1; }
	python3 policy/transform.py template.yaml > $(CACHE)/policy/template.json
	NODE_PATH=$(CACHE)/policy/node_modules node policy/nag.js $(CACHE)/policy/template.json policy/suppressions.json

## test-deps: DynamoDB Local, aws-lambda-rie, cdk-nag, the AWS SDK for JavaScript, axe-core and Chromium, into .cache/ (idempotent)
test-deps: $(CACHE)/dynamodb-local/DynamoDBLocal.jar $(CACHE)/bin/aws-lambda-rie $(CACHE)/policy/node_modules/.package-lock.json $(CACHE)/node/.sdk-$(AWS_SDK_JS_VERSION) \
	$(CACHE)/axe-$(AXE_CORE_VERSION)/node_modules/axe-core/axe.min.js
	@if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing chromium (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is missing and this is not root: install it (apt-get install chromium) for the browser tests"; \
	  fi; \
	fi
	@command -v java >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
	  else echo "java is missing: install Java 17 for DynamoDB Local"; fi; }
	@# Python tools: preinstalled on the project's machine image; pip is the way elsewhere.
	@command -v cfn-lint >/dev/null || echo "cfn-lint is missing: pip install cfn-lint"
	@command -v aws >/dev/null || echo "the AWS CLI is missing: pip install awscli"
	@command -v moto_server >/dev/null || echo "moto_server is missing: pip install 'moto[server]'"

# DynamoDB Local ships inside the npm package amplify-dynamodb-simulator; only
# its emulator/ folder is kept.
$(CACHE)/dynamodb-local/DynamoDBLocal.jar:
	rm -rf $(CACHE)/dynamodb-local $(CACHE)/npm-pack && mkdir -p $(CACHE)/dynamodb-local $(CACHE)/npm-pack
	cd $(CACHE)/npm-pack && npm pack --silent amplify-dynamodb-simulator@$(DYNAMODB_SIMULATOR_VERSION) >/dev/null
	tar -xzf $(CACHE)/npm-pack/amplify-dynamodb-simulator-$(DYNAMODB_SIMULATOR_VERSION).tgz \
	  -C $(CACHE)/dynamodb-local --strip-components=2 package/emulator
	rm -rf $(CACHE)/npm-pack
	test -f $@

# cdk-nag and aws-cdk-lib at the versions of policy/package-lock.json.
$(CACHE)/policy/node_modules/.package-lock.json: policy/package.json policy/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 20 (apt-get install nodejs npm) for the cdk-nag gate"; exit 1; }
	mkdir -p $(CACHE)/policy
	cp policy/package.json policy/package-lock.json $(CACHE)/policy/
	cd $(CACHE)/policy && npm ci --no-audit --no-fund --ignore-scripts --silent
	test -f $@

# The Node.js test app's dependencies (Lambda's Node.js runtimes include the
# SDK; node here does not); the Python app uses the machine's boto3.
$(CACHE)/node/.sdk-$(AWS_SDK_JS_VERSION):
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 18 or later"; exit 1; }
	mkdir -p $(CACHE)/node
	npm install --prefix $(CACHE)/node --no-save --no-audit --no-fund --loglevel=error \
	  @aws-sdk/client-dynamodb@$(AWS_SDK_JS_VERSION) @aws-sdk/lib-dynamodb@$(AWS_SDK_JS_VERSION) \
	  @aws-sdk/client-apigatewaymanagementapi@$(AWS_SDK_JS_VERSION)
	@python3 -c 'import boto3' 2>/dev/null || echo "boto3 is missing: pip install boto3 (for local/testdata/pyapp)"
	touch $@

# axe-core for the page's accessibility checks (web/a11y_test.go), one
# directory per version.
$(CACHE)/axe-$(AXE_CORE_VERSION)/node_modules/axe-core/axe.min.js:
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 18 or later"; exit 1; }
	mkdir -p $(CACHE)/axe-$(AXE_CORE_VERSION)
	npm install --prefix $(CACHE)/axe-$(AXE_CORE_VERSION) --no-save --no-audit --no-fund --ignore-scripts --loglevel=error \
	  axe-core@$(AXE_CORE_VERSION)
	test -f $@

$(CACHE)/bin/aws-lambda-rie:
	GOBIN=$(CACHE)/bin $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

## lint: gofmt, vet, cfn-lint
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	cfn-lint template.yaml

# Lambda binaries: one `bootstrap` per function for provided.al2023.
LAMBDA_BUILD = CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_GOARCH) $(GO) build -trimpath -tags lambda.norpc -ldflags='-s -w' -o $(ARTIFACTS_DIR)/bootstrap

build-ConnectFunction:
	$(LAMBDA_BUILD) ./functions/connect
build-DisconnectFunction:
	$(LAMBDA_BUILD) ./functions/disconnect
build-MessageFunction:
	$(LAMBDA_BUILD) ./functions/message
build-DefaultFunction:
	$(LAMBDA_BUILD) ./functions/default
build-HistoryFunction:
	$(LAMBDA_BUILD) ./functions/history
build-PresenceFunction:
	$(LAMBDA_BUILD) ./functions/presence
build-FanoutFunction:
	$(LAMBDA_BUILD) ./functions/fanout
build-AuthorizerFunction:
	$(LAMBDA_BUILD) ./functions/authorizer

clean:
	rm -rf .build .aws-sam

# ---- deploying to AWS ----------------------------------------------------------

.PHONY: deploy publish

AWS_CLI ?= aws
SAM ?= sam
# samconfig.toml's environment: default (dev) or prod.
DEPLOY_ENV ?= default
# The environment's stack and region in samconfig.toml, unless given.
SAMCONFIG_DEPLOY = sed -n '/^\[$(DEPLOY_ENV)\.deploy\.parameters\]/,/^\[/s/^$(1) = "\(.*\)"/\1/p' samconfig.toml 2>/dev/null | head -n1
STACK_NAME ?= $(shell $(call SAMCONFIG_DEPLOY,stack_name))
DEPLOY_REGION ?= $(shell $(call SAMCONFIG_DEPLOY,region))
# Who the alarms reach (the template requires one): ALARM_EMAIL=you@example.com
# or ALARM_TOPIC_ARN=arn:aws:sns:..., added to the environment's parameter_overrides.
PARAMETER_OVERRIDES ?= $(shell $(call SAMCONFIG_DEPLOY,parameter_overrides))

## deploy: sam build + sam deploy (DEPLOY_ENV=prod for production), then publish the page;
## stops before publishing when the change set fails or is declined (deploy.sh)
deploy:
	DEPLOY_ENV="$(DEPLOY_ENV)" STACK_NAME="$(STACK_NAME)" DEPLOY_REGION="$(DEPLOY_REGION)" \
	  SAM="$(SAM)" AWS_CLI="$(AWS_CLI)" ENDPOINT_URL="$(ENDPOINT_URL)" SAM_DEPLOY_FLAGS="$(SAM_DEPLOY_FLAGS)" \
	  PARAMETER_OVERRIDES='$(PARAMETER_OVERRIDES)' ALARM_EMAIL="$(ALARM_EMAIL)" ALARM_TOPIC_ARN="$(ALARM_TOPIC_ARN)" \
	  ./deploy.sh

## publish: upload web/ to an S3 bucket: make publish BUCKET=name [ENDPOINT_URL=url] [WEBSOCKET_URL=wss://...]
publish:
	@test -n "$(BUCKET)" || { echo "usage: make publish BUCKET=name [ENDPOINT_URL=url] [WEBSOCKET_URL=wss://...]"; exit 2; }
	AWS_CLI="$(AWS_CLI)" ENDPOINT_URL="$(ENDPOINT_URL)" $(if $(PUBLISH_REGION),AWS_DEFAULT_REGION="$(PUBLISH_REGION)") \
	  AUTH_ISSUER="$(AUTH_ISSUER)" AUTH_CLIENT_ID="$(AUTH_CLIENT_ID)" \
	  web/publish.sh "$(BUCKET)" "$(WEBSOCKET_URL)"
