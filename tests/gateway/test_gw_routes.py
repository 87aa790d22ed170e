"""The route table and what is built from it: pure logic, no broker."""

from __future__ import annotations

from fastapi.routing import APIRoute

from gateway.app import create_app
from gateway.readiness import readiness_body
from gateway.routes import ROUTES, fast_paths, metric_routes, routers


def test_every_route_is_served_and_documented_with_its_method() -> None:
    doc = create_app().openapi()
    documented = [(path, method.upper()) for path, ops in doc["paths"].items() for method in ops]
    assert documented == [(r.path, r.method) for r in ROUTES]


def test_one_router_per_resource_in_table_order() -> None:
    built = routers()
    assert [r.tags for r in built] == [["transactions"], ["labels"], ["operations"]]
    paths = [route.path for router in built for route in router.routes if isinstance(route, APIRoute)]
    assert paths == [r.path for r in ROUTES]


def test_fast_paths_are_exactly_the_write_routes() -> None:
    assert set(fast_paths()) == {r.path for r in ROUTES if r.method == "POST"}
    assert all(r.fast is not None for r in ROUTES if r.method == "POST")
    assert all(r.endpoint is not None and r.fast is None for r in ROUTES if r.method == "GET")


def test_metric_routes_cover_the_table_and_docs() -> None:
    assert {r.path for r in ROUTES} | {"/docs", "/openapi.json"} == metric_routes()


def test_openapi_bodies_come_from_the_table() -> None:
    doc = create_app().openapi()
    for route in ROUTES:
        operation = doc["paths"][route.path][route.method.lower()]
        assert ("requestBody" in operation) == (route.body is not None), route.path
        assert operation["operationId"] == route.operation_id


BROKER_OK = {"ok": True, "brokers": 1, "warm": True}
TRITON_OK = {"ok": True, "warm": True}


def test_ready_only_when_warm() -> None:
    assert readiness_body({"broker": BROKER_OK, "triton": TRITON_OK}, True) == (
        200,
        {"status": "ready", "checks": {"broker": BROKER_OK, "triton": TRITON_OK}},
    )
    status, body = readiness_body({"broker": {**BROKER_OK, "warm": False}}, False)
    assert (status, body["status"]) == (503, "warming up")
    status, body = readiness_body({"broker": BROKER_OK, "triton": {**TRITON_OK, "warm": False}}, True)
    assert (status, body["status"]) == (200, "degraded: triton")


def test_triton_down_degrades_but_broker_down_is_not_ready() -> None:
    down = {"ok": False, "error": "Triton unavailable", "warm": True}
    status, body = readiness_body({"broker": BROKER_OK, "triton": down}, True)
    assert (status, body["status"]) == (200, "degraded: triton")
    status, body = readiness_body({"broker": {"ok": False, "error": "x", "warm": True}, "triton": TRITON_OK}, True)
    assert (status, body["status"]) == (503, "not ready")
    assert readiness_body({"broker": BROKER_OK}, False)[0] == 200  # /score off: Triton is not asked
