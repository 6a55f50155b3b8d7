"""Reading a running server's Prometheus series (its --http-port)."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.server_process import ServerProcess

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def http_get(server: ServerProcess, path: str, accept: str = "") -> bytes:
    request = urllib.request.Request(server.announced("http") + path)
    if accept:
        request.add_header("Accept", accept)
    with urllib.request.urlopen(request) as response:
        return response.read()


def scrape(server: ServerProcess) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(http_get(server, "/metrics").decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def sample_value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
