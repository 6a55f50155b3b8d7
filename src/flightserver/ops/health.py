"""The standard gRPC health checking service, on a port of its own.

pyarrow.flight owns its gRPC server and cannot host other services, so
grpcio serves `grpc.health.v1.Health` separately. The server reports
NOT_SERVING until the catalog has loaded and Flight SQL is listening.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

# Health is asked per service name; "" is the whole server.
FLIGHT_SERVICE = "arrow.flight.protocol.FlightService"
SERVICES = ("", FLIGHT_SERVICE)


class HealthServer:
    def __init__(self, host: str, port: int) -> None:
        self._servicer = health.HealthServicer()
        self._server = grpc.server(ThreadPoolExecutor(max_workers=4, thread_name_prefix="health"))
        health_pb2_grpc.add_HealthServicer_to_server(self._servicer, self._server)
        self.host = host
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        self.set_serving(False)
        self._server.start()

    def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for service in SERVICES:
            self._servicer.set(service, status)

    def stop(self) -> None:
        # Tells watchers the server is going away before closing the port.
        self._servicer.enter_graceful_shutdown()
        self._server.stop(grace=1.0).wait()
