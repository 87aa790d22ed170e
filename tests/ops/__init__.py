"""Operations tests: Prometheus rules and configs, the Grafana dashboard, compose, Dockerfiles, Triton configs."""
