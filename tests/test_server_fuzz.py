"""The platform server's API fuzzed with schemathesis, as an outside client would find it: the
running platform (FlowUI's server with Airflow, its database and example operators) on the
loopback interface, every operation of its OpenAPI document, with valid and invalid requests,
as its administrator. No request may get a 5xx, and every answer's status code must be one its
operation declares.

A bounded run: a fixed seed and a few examples per operation and kind, in `make test`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import status_code_conformance

from tests.support.airflow_platform import running_platform

EXAMPLES_PER_OPERATION = 25
SEED = 20261207


@dataclass(frozen=True)
class RunningServer:
    url: str
    headers: dict[str, str]


@pytest.fixture(scope="module")
def running_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A platform of its own (FlowUI's server and Airflow, as `flowui up` starts them): what
    the fuzzer creates and deletes touches no other test's."""
    with running_platform(tmp_path_factory.mktemp("fuzzed-platform")) as platform:
        login = httpx.post(
            f"{platform.server_url}/api/auth/login",
            data={"username": "admin@example.com", "password": platform.password},
        )
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        yield RunningServer(platform.server_url, {"Authorization": f"Bearer {token}"})


def test_every_operation_answers_without_server_errors_and_with_documented_statuses(
    running_server: RunningServer,
) -> None:
    api = schemathesis.openapi.from_url(f"{running_server.url}/api/openapi.json")
    failures: list[str] = []
    operations, cases, started = 0, [0], time.monotonic()
    for result in api.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += fuzz(operation, mode, running_server, cases)
    # The run's figures (`pytest -s` shows them).
    print(
        f"schemathesis: {cases[0]} cases on {operations} operations, {len(failures)} failures, "
        f"{time.monotonic() - started:.1f} s"
    )
    assert operations >= 50, "the OpenAPI document lost its operations"
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)


def fuzz(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    server: RunningServer,
    cases: list[int],
) -> list[str]:
    """The failures of a bounded run of one operation (examples of `mode`), one line each;
    `cases[0]` counts the requests sent."""
    found: list[str] = []

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        cases[0] += 1
        try:
            case.call_and_validate(
                base_url=server.url,
                headers=server.headers,
                checks=[not_a_server_error, status_code_conformance],
            )
        except FailureGroup as failures:
            for failure in failures.exceptions:
                found.append(f"{operation.label} ({mode}): {failure}")

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid: an operation without parameters or body
        assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request"
    return found
