# Taxi-fraud detection: every task a user or CI runs is a target here. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HASH   := $(shell cat pyproject.toml | sha1sum | cut -c1-12)
# Two installs: what `make run`/`make demo` need, and on top of it training (torch, several GB) and dev tools.
STAMP_RUN := $(VENV)/.installed-run-$(HASH)
STAMP_DEV := $(VENV)/.installed-dev-$(HASH)
APT_PACKAGES := prometheus docker-compose wrk kcat chromium
# The embedded Kafka: Java >= 17 and Maven from Debian, its jars from Maven Central (embedded-kafka/pom.xml).
JAVA_PACKAGES := openjdk-17-jre-headless maven
KAFKA_LIBS := $(VENV)/kafka-libs
KAFKA_STAMP := $(KAFKA_LIBS)/.resolved-$(shell cat embedded-kafka/pom.xml | sha1sum | cut -c1-12)
COMPOSE ?= docker compose
# TRITON_MODEL_CONFIG=cpu serves configs/cpu.pbtxt and drops the GPU reservation (docker-compose.cpu.yml).
COMPOSE_FILES := -f docker-compose.yml $(if $(filter cpu,$(TRITON_MODEL_CONFIG)),-f docker-compose.cpu.yml)
N ?= 2
# Extra arguments of `make demo`, e.g. DEMO_ARGS=--review (label a share of the alerts, show labelled precision).
DEMO_ARGS ?=
# The Python packages, top layer first (docs/architecture.md); pyproject.toml's import-linter contracts
# (`lint-imports`) keep every import pointing down this list.
PY_PACKAGES := operations gateway consumer export review taxifraud

.PHONY: help setup setup-dev system-deps java-deps run demo test test-fast bench chaos lint train export up down logs ps scale clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP_RUN): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[embedded]'
	@rm -f $(VENV)/.installed-run-*; touch $(STAMP_RUN)

$(STAMP_DEV): $(STAMP_RUN)
	$(BIN)/pip install -q -e '.[embedded,train,dev]'
	@rm -f $(VENV)/.installed-dev-*; touch $(STAMP_DEV)

java-deps: ## install Java >= 17 and Maven from Debian where they are missing
	@need=""; \
	if ! java -version 2>&1 | grep -qE 'version "(1[7-9]|[2-9][0-9])'; then need="$$need openjdk-17-jre-headless"; fi; \
	command -v mvn >/dev/null || need="$$need maven"; \
	if [ -n "$$need" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  echo "installing Debian packages:$$need"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$need >/dev/null; \
	fi

# The broker's jars, resolved once from Maven Central into .venv/kafka-libs (the ~/.m2 cache is reused).
$(KAFKA_STAMP): embedded-kafka/pom.xml | java-deps
	@mkdir -p $(KAFKA_LIBS)
	mvn -q -B -f embedded-kafka/pom.xml dependency:copy-dependencies -DoutputDirectory=$(abspath $(KAFKA_LIBS))
	@rm -f $(KAFKA_LIBS)/.resolved-*; touch $(KAFKA_STAMP)

system-deps: ## install the Debian packages the tests and tools use (Prometheus, docker-compose, wrk, kcat, chromium)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  echo "installing Debian packages:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

setup: $(STAMP_RUN) system-deps java-deps $(KAFKA_STAMP) ## .venv with the services, embedded Kafka and Triton (no torch)

setup-dev: setup $(STAMP_DEV) ## setup plus training (torch) and the dev tools

run: setup ## run the whole embedded stack in the foreground (Ctrl-C stops it)
	$(BIN)/taxifraud up

demo: setup ## start the stack, replay real-looking trips with injected fraud, live view, final report (DEMO_ARGS=--review: label alerts too)
	$(BIN)/taxifraud demo $(DEMO_ARGS)

test: setup-dev ## run lint and the whole test suite (starts and stops every service it needs)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(PY_PACKAGES)
	$(BIN)/lint-imports
	$(BIN)/pytest -q -p no:cacheprovider

test-fast: setup-dev ## unit tests only (no services)
	$(BIN)/pytest -q -m "not integration"

bench: setup ## measure throughput and latency; writes bench/results.json, .md and .png
	$(BIN)/taxifraud bench

chaos: setup ## kill -9 each service mid-stream under the supervisor; writes bench/chaos.json and .md
	$(BIN)/python -m operations.benchmarks.chaos

lint: setup-dev ## ruff, mypy, import layers, hadolint, compose and Prometheus config checks
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(PY_PACKAGES)
	$(BIN)/lint-imports
	$(BIN)/hadolint docker/*.Dockerfile
	GRAFANA_ADMIN_PASSWORD=lint-only REDPANDA_SUPERUSER_PASSWORD=lint-only KAFKA_SASL_PASSWORD=lint-only docker-compose config -q
	promtool check config prometheus/prometheus.yml
	promtool check config prometheus/prometheus.embedded.yml
	promtool test rules prometheus/alerts_test.yml

train: setup-dev ## train the autoencoder on ../shared/data (seeded)
	$(BIN)/taxifraud train

export: setup-dev ## export ONNX into model_repository/, check parity, write the evaluation
	$(BIN)/taxifraud export

up: ## production: docker compose with Redpanda, Triton on the GPU, gateway, consumers, Prometheus, Grafana
	@command -v docker >/dev/null || { echo "make up: docker is not installed"; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make up: the Docker engine is not running (or you lack access)"; exit 1; }
	@docker compose version >/dev/null 2>&1 || { echo "make up: needs Docker Compose v2 (the 'docker compose' plugin)"; exit 1; }
	@if [ "$${TRITON_MODEL_CONFIG:-}" != "cpu" ]; then \
	  docker info 2>/dev/null | grep -qi 'runtimes:.*nvidia' || { echo "make up: no NVIDIA container runtime; install nvidia-container-toolkit, or set TRITON_MODEL_CONFIG=cpu"; exit 1; }; fi
	@for key in GRAFANA_ADMIN_PASSWORD REDPANDA_SUPERUSER_PASSWORD KAFKA_SASL_PASSWORD; do \
	  test -n "$$(printenv $$key || grep -s "^$$key=" .env | cut -d= -f2-)" || { echo "make up: set $$key (env or .env)"; exit 1; }; done
	$(COMPOSE) $(COMPOSE_FILES) up -d --build --wait

down: ## stop the compose deployment
	$(COMPOSE) $(COMPOSE_FILES) down

logs: ## follow the compose deployment's logs
	$(COMPOSE) $(COMPOSE_FILES) logs -f --tail=100

ps: ## list the compose deployment's services
	$(COMPOSE) $(COMPOSE_FILES) ps

scale: ## run N consumers in the compose deployment: make scale N=4
	$(COMPOSE) $(COMPOSE_FILES) up -d --no-recreate --scale consumer=$(N)

clean: ## remove run/ logs and caches (keeps .venv)
	rm -rf run .pytest_cache .mypy_cache .ruff_cache
