# Taxi-fraud detection: every task a user or CI runs is a target here. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
APT_PACKAGES := prometheus docker-compose wrk kcat chromium
COMPOSE ?= docker compose
# TRITON_MODEL_CONFIG=cpu serves configs/cpu.pbtxt and drops the GPU reservation (docker-compose.cpu.yml).
COMPOSE_FILES := -f docker-compose.yml $(if $(filter cpu,$(TRITON_MODEL_CONFIG)),-f docker-compose.cpu.yml)
N ?= 2

.PHONY: help setup system-deps run demo test test-fast bench lint train export up down logs ps scale clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[embedded,train,dev]'
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

system-deps: ## install the Debian packages the tests and tools use (Prometheus, docker-compose, wrk, kcat, chromium)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  echo "installing Debian packages:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

setup: $(STAMP) system-deps ## create .venv with the project, the embedded broker and Triton, and dev tools

run: setup ## run the whole embedded stack in the foreground (Ctrl-C stops it)
	$(BIN)/taxifraud up

demo: setup ## start the stack, replay real-looking trips with injected fraud, live view, final report
	$(BIN)/taxifraud demo

test: setup ## run lint and the whole test suite (starts and stops every service it needs)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy taxifraud gateway consumer export
	$(BIN)/pytest -q -p no:cacheprovider

test-fast: setup ## unit tests only (no services)
	$(BIN)/pytest -q -m "not integration"

bench: setup ## measure throughput and latency; writes bench/results.json, .md and .png
	$(BIN)/taxifraud bench

lint: setup ## ruff, mypy, hadolint, compose and Prometheus config checks
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy taxifraud gateway consumer export
	$(BIN)/hadolint docker/*.Dockerfile
	GRAFANA_ADMIN_PASSWORD=lint-only docker-compose config -q
	promtool check config prometheus/prometheus.yml
	promtool check config prometheus/prometheus.embedded.yml
	promtool test rules prometheus/alerts_test.yml

train: setup ## train the autoencoder on ../shared/data (seeded)
	$(BIN)/taxifraud train

export: setup ## export ONNX into model_repository/, check parity, write the evaluation
	$(BIN)/taxifraud export

up: ## production: docker compose with Redpanda, Triton on the GPU, gateway, consumers, Prometheus, Grafana
	@command -v docker >/dev/null || { echo "make up: docker is not installed"; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make up: the Docker engine is not running (or you lack access)"; exit 1; }
	@docker compose version >/dev/null 2>&1 || { echo "make up: needs Docker Compose v2 (the 'docker compose' plugin)"; exit 1; }
	@if [ "$${TRITON_MODEL_CONFIG:-}" != "cpu" ]; then \
	  docker info 2>/dev/null | grep -qi 'runtimes:.*nvidia' || { echo "make up: no NVIDIA container runtime; install nvidia-container-toolkit, or set TRITON_MODEL_CONFIG=cpu"; exit 1; }; fi
	@test -n "$${GRAFANA_ADMIN_PASSWORD:-$$(grep -s '^GRAFANA_ADMIN_PASSWORD=' .env | cut -d= -f2-)}" || { echo "make up: set GRAFANA_ADMIN_PASSWORD (env or .env)"; exit 1; }
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
