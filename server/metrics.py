"""Prometheus metrics of one process, served at ``/metrics``.

Each application gets its own registry so several apps in one process (tests) do not collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "studyroom_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "studyroom_http_request_seconds", "HTTP request latency", ["route"], registry=r
        )
        self.ws_connections = Gauge(
            "studyroom_ws_connections", "Open room sockets on this process", registry=r
        )
        self.ws_closed = Counter(
            "studyroom_ws_closed_total", "Room sockets closed, by close code", ["code"], registry=r
        )
        self.ws_joins_in_progress = Gauge(
            "studyroom_ws_joins_in_progress",
            "Room-socket joins holding a slot: accepted, welcome and replay not yet written",
            registry=r,
        )
        self.ws_joins_refused = Counter(
            "studyroom_ws_joins_refused_total",
            "Room-socket joins refused with 1013 because too many were in progress",
            registry=r,
        )
        self.rooms = Gauge("studyroom_rooms", "Rooms with members on this process", registry=r)
        self.events_appended = Counter(
            "studyroom_room_events_total",
            "Room events appended by this process",
            ["type"],
            registry=r,
        )
        self.deliveries = Counter(
            "studyroom_deliveries_total", "Room event frames queued to sockets", registry=r
        )
        self.gap_fills = Counter(
            "studyroom_gap_fills_total",
            "Times a room read missed events back from the log",
            registry=r,
        )
        self.frame_errors = Counter(
            "studyroom_frame_errors_total", "Client frames refused", ["code"], registry=r
        )
        self.transcript_pending = Gauge(
            "studyroom_transcript_batch", "Events in the last transcript batch", registry=r
        )
        self.transcript_written = Counter(
            "studyroom_transcript_events_total", "Events written to the transcript", registry=r
        )
        self.transcript_failures = Counter(
            "studyroom_transcript_failures_total", "Failed transcript writes (retried)", registry=r
        )

        self.loop_lag = Histogram(
            "studyroom_event_loop_lag_seconds",
            "How much later than asked the event loop woke a timer (what every ready frame waited)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.gc_pauses = Histogram(
            "studyroom_gc_pause_seconds",
            "Pauses of the cyclic garbage collector, by generation (the process waits them out)",
            ["generation"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
            registry=r,
        )

        self.tutor_turns = Counter(
            "studyroom_tutor_turns_total", "Tutor turns by how they ended", ["state"], registry=r
        )
        self.tutor_ttft = Histogram(
            "studyroom_tutor_ttft_seconds",
            "Time from a turn's start to its first token",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
