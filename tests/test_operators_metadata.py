"""CPU amounts of the operators standard (`flowui.operators.metadata`): container_resources
give millicores; the docker runtime and workspace limits count CPUs, and AWS Batch is asked
for vCPUs, never fewer than it gives a job."""

from __future__ import annotations

import pytest

from flowui.operators.metadata import batch_vcpus, cpus_of


@pytest.mark.parametrize(
    ("millicores", "cpus"), [(1000, 1.0), (1500, 1.5), (250, 0.25), (100, 0.1), (16000, 16.0)]
)
def test_a_thousand_millicores_are_one_cpu(millicores: int, cpus: float) -> None:
    assert cpus_of(millicores) == cpus


@pytest.mark.parametrize(
    ("millicores", "vcpus"),
    [
        (100, 0.25),  # Batch's smallest job (Fargate's quarter vCPU), not 0.1
        (250, 0.25),
        (500, 0.5),
        (2500, 2.5),
    ],
)
def test_batch_is_asked_for_the_cpus_and_never_less_than_a_quarter_vcpu(
    millicores: int, vcpus: float
) -> None:
    assert batch_vcpus(millicores) == vcpus
