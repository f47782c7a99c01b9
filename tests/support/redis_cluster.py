"""A real Redis Cluster on loopback ports: three masters, each with one replica.

Started with the ``redis-server`` and ``redis-cli`` the machine has (``--cluster-enabled yes``,
``redis-cli --cluster create --cluster-replicas 1``), in a temporary directory, and stopped
with everything it wrote. Tests use it for the live-state conformance suites and failover.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MASTERS = 3
_START_TIMEOUT_S = 30.0


def _free_ports(count: int) -> list[int]:
    """Loopback ports free now whose cluster bus ports (port + 10000) are free as well."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port + 10000 > 65535 or port in ports:
            continue
        with socket.socket() as bus, contextlib.suppress(OSError):
            bus.bind(("127.0.0.1", port + 10000))
            ports.append(port)
    return ports


@dataclass
class ClusterNode:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        return subprocess.run(
            ["redis-cli", "-p", str(self.port), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class RedisCluster:
    directory: Path
    nodes: list[ClusterNode] = field(default_factory=list)

    @property
    def url(self) -> str:
        """``redis+cluster://`` with every node as a seed, as an operator would write it."""
        return "redis+cluster://" + ",".join(node.address for node in self.nodes if node.alive)

    @property
    def seed_url(self) -> str:
        """A plain ``redis://`` URL of one live node, for redis-py's own cluster client."""
        node = next(node for node in self.nodes if node.alive)
        return f"redis://{node.address}"

    def masters(self) -> list[ClusterNode]:
        live = [node for node in self.nodes if node.alive]
        roles = {node.port: node.cli("ROLE").split("\n", 1)[0] for node in live}
        return [node for node in live if roles[node.port] == "master"]

    def master_at(self, address: str) -> ClusterNode:
        """The node listening at ``host:port``, as redis-py's cluster map names it."""
        return next(node for node in self.nodes if node.address == address)

    def kill(self, node: ClusterNode) -> None:
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(10)

    def wait_healthy(self, timeout_s: float = _START_TIMEOUT_S) -> None:
        """Until every live node says ``cluster_state:ok`` and sees ``MASTERS`` masters."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if all(self._healthy(node) for node in self.nodes if node.alive):
                    return
            except subprocess.SubprocessError:
                pass
            if time.monotonic() > deadline:
                states = {node.port: node.cli("CLUSTER", "INFO") for node in self.nodes}
                raise RuntimeError(f"the Redis Cluster did not become healthy: {states}")
            time.sleep(0.1)

    @staticmethod
    def _healthy(node: ClusterNode) -> bool:
        info = node.cli("CLUSTER", "INFO")
        if "cluster_state:ok" not in info:
            return False
        # A replica that has not synced yet would refuse to take over from its master.
        replication = node.cli("INFO", "replication")
        if "role:slave" in replication and "master_link_status:up" not in replication:
            return False
        masters = [line for line in node.cli("CLUSTER", "NODES").splitlines() if "master" in line]
        live = [line for line in masters if "fail" not in line.split()[2]]
        return len(live) == MASTERS

    def stop(self) -> None:
        for node in self.nodes:
            if node.alive:
                node.process.send_signal(signal.SIGKILL)
                node.process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)


def _start_node(directory: Path, port: int) -> ClusterNode:
    node_dir = directory / str(port)
    node_dir.mkdir()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(node_dir),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            # Short enough that a killed master is replaced within a test's patience.
            "--cluster-node-timeout",
            "1000",
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(node_dir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    node = ClusterNode(port, process)
    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return node
        if not node.alive or time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on port {port} did not start")
        time.sleep(0.05)


@contextlib.contextmanager
def redis_cluster() -> Iterator[RedisCluster]:
    """A healthy 3-master/3-replica cluster for the duration of the block."""
    cluster = RedisCluster(Path(tempfile.mkdtemp(prefix="studyroom-cluster-")))
    try:
        for port in _free_ports(2 * MASTERS):
            cluster.nodes.append(_start_node(cluster.directory, port))
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(node.address for node in cluster.nodes),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        cluster.wait_healthy()
        yield cluster
    finally:
        cluster.stop()
