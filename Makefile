# Two commands on a fresh machine: `make run` and `make test`. Each one installs what it
# needs (virtualenv, pinned packages, jars) the first time and nothing after that.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
JARS_DIR := .cache/jars
INSTALLED := $(VENV)/.installed
JARS := $(JARS_DIR)/.complete
# make run's data root: samples under data/input/<dataset>, outputs where the registry puts them.
DATA := data
SAMPLE := $(DATA)/input
SAMPLE_SIZE ?= 20MB
# make run S3=1: the jobs read and write s3:// on moto's S3 server, started on 127.0.0.1 and
# stopped afterwards (tools/local_s3.py).
S3 ?= 0
# ~45 bytes a customer: 2MB is about 46,000 customers to train on, 512KB about 11,600 to score.
CUSTOMERS_SIZE ?= 2MB
NEW_CUSTOMERS_SIZE ?= 512KB
BENCH_SIZE ?= 1GB
BENCH_ROUNDS ?= 2
# make bench SCALE_CHECK=4GB: also log analytics alone at 4 GB (cost per GB against 1 GB's, JVM peak).
# make bench also times log analytics on each access log format (combined, alb, cloudfront) against JSON.
# make bench also times log analytics against its hand-written peer (tools/seed/log_analytics_peer.py)
# and a day of 8 MB into a root of 30 days (log_analytics_daily), with their targets, PASS or MISS.
SCALE_CHECK ?=
# make bench-warehouse: daily batches loaded one by one, with table maintenance every few.
BENCH_BATCHES ?= 60
BENCH_ROWS ?= 200000
# make bench-logs-history: daily log files loaded one by one into one log warehouse.
LOGS_BATCHES ?= 60
LOGS_LINES ?= 100000
# make test's workers (pytest-xdist): tests sharing a module's fixture stay on one worker, the
# longest modules start first (tests/conftest.py). TEST_WORKERS=0: one process, as before.
TEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder)
# Step Functions validator (npm), installed into tools/asl/node_modules by `make test`.
ASL_VALIDATOR := tools/asl/node_modules/.bin/asl-validator
# EMR: the deployment root and the cluster (see docs/emr-on-ec2.md).
BUCKET ?=
RELEASE_LABEL ?= emr-7.12.0
INSTANCE_TYPE ?= m6i.xlarge
CORE_NODES ?= 2
SUBNET_ID ?=
WHEELHOUSE ?=
SERVICE_ROLE ?= EMR_DefaultRole
INSTANCE_PROFILE ?= EMR_EC2_DefaultRole
CLUSTER_ID ?=
JOB ?=
ARGS ?=
# SNS topic the CloudWatch alarms (dist/emr/alarms.json) and failed pipelines notify (docs/daily-operations.md).
ALARM_TOPIC_ARN ?=
# Opt-in: Delta's S3 DynamoDB log store, so two writers on one table cannot lose a commit
# (tools/emr/logstore.py): the table's name and region.
DELTA_LOG_STORE_TABLE ?=
DELTA_LOG_STORE_REGION ?=
# Processing day (yyyy-mm-dd) of make submit: a daily job reads <input>/dt=DATE/ (docs/daily-operations.md).
DATE ?=
# make backfill: a pipeline's state machine, run once per day FROM..TO, one execution at a time.
STATE_MACHINE_ARN ?=
FROM ?=
TO ?=
# Cost knobs (EMR on EC2): Spot task nodes on instance fleets (core stays on-demand), their
# instance types and allocation strategy, and managed scaling's upper limit (core + task units).
# Graviton: INSTANCE_TYPE=m7g.xlarge with WHEELHOUSE=.../wheelhouse/aarch64/.
SPOT_TASK_UNITS ?= 0
TASK_INSTANCE_TYPES ?=
SPOT_ALLOCATION_STRATEGY ?= price-capacity-optimized
MAX_CAPACITY ?=
# EMR Serverless: the job runtime role and the image built from serverless/Dockerfile (both, or
# no Serverless documents), its architecture (x86_64 or aarch64), and the application to run on.
SERVERLESS_ROLE_ARN ?=
SERVERLESS_IMAGE ?=
SERVERLESS_ARCH ?= x86_64
APPLICATION_ID ?=
# Encryption (docs/security-encryption.md): an existing EMR security configuration's name, or a
# generated one from a KMS key ARN (S3 SSE-KMS, local disks, EBS, Serverless logs) and a TLS
# certificate source (an s3:// zip of PEM files, or a custom provider's s3:// jar and class).
# None of them: EMR's defaults apply (make emr-artifacts says so).
SECURITY_CONFIGURATION ?=
KMS_KEY_ARN ?=
TLS_CERTIFICATES ?=
TLS_PROVIDER_JAR ?=
TLS_PROVIDER_CLASS ?=

# Executors and spark-submit drivers use the virtualenv's Python, like EMR's PYSPARK_PYTHON.
export PYSPARK_PYTHON := $(abspath $(PY))
# Great Expectations must not try to reach the network.
export GX_ANALYTICS_ENABLED := false

.PHONY: help check-java check-chromium setup class-archive run test test-fast lint format package bench bench-floor bench-warehouse bench-logs-history lock lock-wheels wheelhouse clean distclean
.PHONY: emr-artifacts deploy cluster submit submit-serverless backfill

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(INSTALLED): requirements/dev.txt requirements/cluster.txt requirements/constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11 (or run make PYTHON=/path/to/python3.11)" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "error: $(PYTHON) is not Python 3.11, the version EMR 7.x runs" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt -r requirements/dev.txt
	touch $@

# Spark's own Ivy (spark-submit --packages in the venv) resolves requirements/jars.txt once
# into .cache/ivy; the jars are kept as plain files in $(JARS_DIR) (tools/fetch_jars.py).
$(JARS): requirements/jars.txt | $(INSTALLED)
	$(PY) -m tools.fetch_jars --dest $(JARS_DIR)

setup: check-java $(INSTALLED) $(JARS) ## Create .venv, install pinned packages, resolve the jars (once)

# First, so a missing Java is named before anything is installed or fetched.
check-java:
	@tools/check_java.sh

$(SAMPLE)/logs/.complete: | setup
	$(PY) -m tools.generate logs --output $(SAMPLE)/logs --size $(SAMPLE_SIZE) --seed 7

$(SAMPLE)/transactions/.complete: | setup
	$(PY) -m tools.generate transactions --output $(SAMPLE)/transactions --size $(SAMPLE_SIZE) --seed 7

$(SAMPLE)/profiles/.complete: | setup
	$(PY) -m tools.generate profiles --output $(SAMPLE)/profiles --size 4MB --seed 7

$(SAMPLE)/customers/.complete: | setup
	$(PY) -m tools.generate customers --output $(SAMPLE)/customers --size $(CUSTOMERS_SIZE) --seed 7

$(SAMPLE)/new_customers/.complete: | setup
	$(PY) -m tools.generate customers --output $(SAMPLE)/new_customers --size $(NEW_CUSTOMERS_SIZE) --seed 8

SAMPLES := $(foreach d,logs transactions profiles customers new_customers,$(SAMPLE)/$(d)/.complete)

run: setup $(SAMPLES) ## Run every job on generated sample data, print a summary (S3=1: on a local S3 server); full output in data/logs/make-run/
ifeq ($(S3),1)
	$(PY) -m tools.local_s3 --root $(DATA)
else
	$(PY) -m tools.demo --root $(DATA)
endif

$(ASL_VALIDATOR): tools/asl/package.json tools/asl/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found (the tests validate Step Functions definitions with asl-validator): install Node.js 18+ with apt-get install -y nodejs npm" >&2; exit 1; }
	npm ci --prefix tools/asl --no-audit --no-fund --silent
	touch $@

# The dashboard tests open every page in a headless Chromium (Debian's package).
check-chromium:
	@tools/check_chromium.sh

# Once per JDK and set of jars (its name says which): every test JVM then starts without
# parsing Spark's classes from the jars again. A no-op when it is up to date.
class-archive: setup ## Record the JVM class archive local drivers map (tools/class_archive.py)
	$(PY) -m tools.class_archive

test: check-chromium setup package class-archive $(ASL_VALIDATOR) ## Run the test suite (local Spark, real Delta and Great Expectations)
	$(PY) -m pytest $(XDIST) --durations=30 --durations-min=10

test-fast: setup class-archive $(ASL_VALIDATOR) ## Transforms, rules, contracts and document builders only: no spark-submit, servers or browser
	$(PY) -m pytest -m "not slow" $(XDIST)

lint: setup ## ruff check and format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup ## Apply ruff fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

package: $(INSTALLED) ## Build the EMR artifact in dist/
	$(PY) -m tools.package --dist dist

# Everything `make emr-artifacts` hands to `python -m tools.emr artifacts`, checked first
# (--check: a bad BUCKET, KMS key or certificate location stops it before anything is built or written).
EMR_ARTIFACTS_ARGS = --bucket "$(BUCKET)" --out dist/emr --release-label "$(RELEASE_LABEL)" \
	--instance-type "$(INSTANCE_TYPE)" --core-nodes "$(CORE_NODES)" \
	--service-role "$(SERVICE_ROLE)" --instance-profile "$(INSTANCE_PROFILE)" \
	$(if $(SUBNET_ID),--subnet-id "$(SUBNET_ID)") $(if $(WHEELHOUSE),--wheelhouse "$(WHEELHOUSE)") \
	--spot-task-units "$(SPOT_TASK_UNITS)" --spot-allocation-strategy "$(SPOT_ALLOCATION_STRATEGY)" \
	$(if $(TASK_INSTANCE_TYPES),--task-instance-types "$(TASK_INSTANCE_TYPES)") \
	$(if $(MAX_CAPACITY),--max-capacity "$(MAX_CAPACITY)") \
	$(if $(SERVERLESS_ROLE_ARN),--serverless-role-arn "$(SERVERLESS_ROLE_ARN)") \
	$(if $(SERVERLESS_IMAGE),--serverless-image "$(SERVERLESS_IMAGE)") --serverless-architecture "$(SERVERLESS_ARCH)" \
	$(if $(SECURITY_CONFIGURATION),--security-configuration "$(SECURITY_CONFIGURATION)") \
	$(if $(KMS_KEY_ARN),--kms-key-arn "$(KMS_KEY_ARN)") \
	$(if $(TLS_CERTIFICATES),--tls-certificates "$(TLS_CERTIFICATES)") \
	$(if $(TLS_PROVIDER_JAR),--tls-provider-jar "$(TLS_PROVIDER_JAR)") \
	$(if $(TLS_PROVIDER_CLASS),--tls-provider-class "$(TLS_PROVIDER_CLASS)") \
	$(if $(ALARM_TOPIC_ARN),--alarm-topic-arn "$(ALARM_TOPIC_ARN)") \
	$(if $(DELTA_LOG_STORE_TABLE),--delta-log-store-table "$(DELTA_LOG_STORE_TABLE)") \
	$(if $(DELTA_LOG_STORE_REGION),--delta-log-store-region "$(DELTA_LOG_STORE_REGION)")

emr-artifacts: $(INSTALLED) ## EMR (EC2 and Serverless) documents and Step Functions state machines in dist/emr (BUCKET=s3://...)
	$(PY) -m tools.emr artifacts $(EMR_ARTIFACTS_ARGS) --check
	$(MAKE) --no-print-directory package
	$(PY) -m tools.emr artifacts $(EMR_ARTIFACTS_ARGS)

deploy: package ## Upload the artifact and bootstrap files to BUCKET/artifacts/<version>/ (boto3)
	$(PY) -m tools.emr deploy --bucket "$(BUCKET)" --dist dist

cluster: emr-artifacts ## Start a cluster for `make submit` (idles out after 1 h); prints its id
	$(PY) -m tools.emr cluster --bucket "$(BUCKET)" --document dist/emr/run-job-flow.json

submit: $(INSTALLED) ## Run JOB on cluster CLUSTER_ID and wait, printing its states (DATE=yyyy-mm-dd: that day; ARGS replaces its arguments)
	$(PY) -m tools.emr submit --bucket "$(BUCKET)" --cluster-id "$(CLUSTER_ID)" --job "$(JOB)" $(if $(ARGS),--args '$(ARGS)') \
		$(if $(DATE),--date "$(DATE)")

submit-serverless: $(INSTALLED) ## Run JOB on EMR Serverless application APPLICATION_ID and wait (SERVERLESS_ROLE_ARN, BUCKET)
	$(PY) -m tools.emr submit-serverless --bucket "$(BUCKET)" --application-id "$(APPLICATION_ID)" \
		--role-arn "$(SERVERLESS_ROLE_ARN)" --job "$(JOB)" $(if $(ARGS),--args '$(ARGS)') \
		$(if $(KMS_KEY_ARN),--kms-key-arn "$(KMS_KEY_ARN)") $(if $(DATE),--date "$(DATE)")

backfill: $(INSTALLED) ## Run STATE_MACHINE_ARN once per day FROM..TO (yyyy-mm-dd), one execution at a time
	$(PY) -m tools.emr backfill --state-machine-arn "$(STATE_MACHINE_ARN)" --from "$(FROM)" --to "$(TO)"

bench: setup ## Jobs against the mission's seed scripts: fixed cost (8 MB) and cost per GB (to ~1 GB)
	$(PY) -m tools.bench --size $(BENCH_SIZE) --rounds $(BENCH_ROUNDS) $(if $(SCALE_CHECK),--scale-check $(SCALE_CHECK))

bench-floor: setup ## The ETL's data plane step by step (parse, rules, dedup, writes) against the seed, per GB
	$(PY) -m tools.bench_floor --size $(BENCH_SIZE) --rounds $(BENCH_ROUNDS)

bench-warehouse: setup ## Warehouse over daily batches: MERGE cost, files per date, maintenance, a backfill
	$(PY) -m tools.bench_warehouse --batches $(BENCH_BATCHES) --rows $(BENCH_ROWS)

bench-logs-history: setup ## Log warehouse over daily files: bytes and files read per batch, against batch 5's
	$(PY) -m tools.bench_logs_history --batches $(LOGS_BATCHES) --lines $(LOGS_LINES)

lock: ## Re-resolve requirements/dev.txt, rewrite the lock file, resolve the cluster wheels (x86_64, aarch64)
	rm -rf .cache/lock-venv && $(PYTHON) -m venv .cache/lock-venv
	.cache/lock-venv/bin/pip install --quiet -r requirements/dev.txt
	{ head -3 requirements/constraints.txt; .cache/lock-venv/bin/pip freeze; } > requirements/constraints.txt.new
	mv requirements/constraints.txt.new requirements/constraints.txt
	.cache/lock-venv/bin/python -m tools.emr.wheels resolve

# pip's resolver, dry run, for Python 3.11 on EMR 7.x x86_64 and aarch64 nodes, wheels only:
# fails when a pin has no wheel there; records the wheels in requirements/cluster-wheels.json.
lock-wheels: $(INSTALLED) ## Only re-resolve the cluster wheels for the current lock file (network)
	$(PY) -m tools.emr.wheels resolve

wheelhouse: package ## Download the cluster wheels for offline nodes into wheelhouse/{x86_64,aarch64}/ (checked against the lock)
	$(PY) -m tools.emr.wheels download --requirements dist/requirements.txt --out wheelhouse

clean: ## Remove generated data, outputs and builds (keeps .venv and the jar cache)
	rm -rf data dist build *.egg-info spark-warehouse metastore_db derby.log .pytest_cache .ruff_cache test-artifacts
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +

distclean: clean ## Also remove .venv and the jar, Ivy and benchmark caches
	rm -rf $(VENV) .cache tools/asl/node_modules
