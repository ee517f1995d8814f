"""A private Redis Cluster (masters and replicas) in a directory of its own, from OS binaries."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import port_for
import redis as redis_sync

from estore.embedded.postgres import MissingBinary
from estore.embedded.redis import EmbeddedRedis

BUS_OFFSET = 10_000  # a cluster node also listens on its port + 10000 (the cluster bus)
HIGHEST_PORT = 65_535 - BUS_OFFSET - 1
NODE_TIMEOUT_MS = 2_000  # how long a master may be silent before its replica takes over


def redis_cli_binary() -> str:
    """The redis-cli binary on PATH (it builds the cluster)."""
    binary = shutil.which("redis-cli")
    if binary is None:
        raise MissingBinary(
            "redis-cli not found: install it with `sudo apt-get install redis-tools`"
        )
    return binary


def cluster_ports(count: int) -> list[int]:
    """`count` free loopback ports below 55535 whose cluster-bus ports (+10000) are free too."""
    chosen: list[int] = []
    candidates = set(range(20_000, HIGHEST_PORT))
    while len(chosen) < count:
        port = int(port_for.select_random(candidates, exclude_ports=chosen))
        candidates.discard(port)
        if port_for.is_available(port + BUS_OFFSET):
            chosen.append(port)
    return chosen


class EmbeddedRedisCluster:
    """`masters` masters with `replicas` replicas each on 127.0.0.1, their files in `data_dir`."""

    def __init__(self, data_dir: Path, masters: int = 3, replicas: int = 1) -> None:
        self.data_dir = data_dir.resolve()
        self.host = "127.0.0.1"
        self._replicas = replicas
        self._clients: dict[int, redis_sync.Redis] = {}
        self.ports = cluster_ports(masters * (1 + replicas))
        options = [
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
        ]  # fmt: skip
        self.nodes = [
            EmbeddedRedis(self.data_dir / str(port), port, extra_args=options)
            for port in self.ports
        ]

    def url(self) -> str:
        """The `redis+cluster://` URL naming every node."""
        return "redis+cluster://" + ",".join(f"{self.host}:{port}" for port in self.ports)

    def start(self, timeout: float = 60) -> None:
        """Start every node, join them into one cluster, and wait until every slot is served."""
        for node in self.nodes:
            node.start(timeout=timeout)
        command = [
            redis_cli_binary(), "--cluster", "create",
            *(f"{self.host}:{port}" for port in self.ports),
            "--cluster-replicas", str(self._replicas), "--cluster-yes",
        ]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60) -> None:
        """Return once every node reports the cluster OK and knows every other node, and every
        replica has its master's data (one still syncing would be promoted empty)."""
        deadline = time.monotonic() + timeout
        while not all(self._node_ready(port) for port in self.ports):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Redis Cluster on {self.ports} did not become ready")
            time.sleep(0.1)

    def _node_ready(self, port: int) -> bool:
        with redis_sync.Redis(self.host, port) as client:
            info = client.cluster("INFO")
            slots = client.cluster("SLOTS")
            replication = client.info("replication")
        served = sum(int(end) - int(start) + 1 for start, end, *_ in slots)
        known = int(info["cluster_known_nodes"])
        synced = replication["role"] == "master" or replication.get("master_link_status") == "up"
        ready = info["cluster_state"] == "ok" and served == 16384 and known == len(self.ports)
        return ready and synced

    def client(self, port: int) -> redis_sync.Redis:
        """A plain client of the node on `port`, kept open until stop()."""
        if port not in self._clients:
            self._clients[port] = redis_sync.Redis(self.host, port)
        return self._clients[port]

    def masters(self) -> list[int]:
        """The ports of the nodes that are masters now."""
        return [port for port in self.ports if self.client(port).role()[0] == b"master"]

    def master_of(self, key: str, via: int | None = None) -> int:
        """The port of the master serving `key`'s slot, as the node on `via` sees it."""
        node = self.client(via or self.ports[0])
        slot = int(node.cluster("KEYSLOT", key))
        return next(int(e[2][1]) for e in node.cluster("SLOTS") if int(e[0]) <= slot <= int(e[1]))

    def wait_replicated(self, port: int, timeout: float = 10) -> None:
        """Return once every replica of the master on `port` has acknowledged all its writes."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.client(port).info("replication")
            replicas = [value for key, value in info.items() if key.startswith("slave")]
            done = int(info["master_repl_offset"])
            if replicas and all(int(replica["offset"]) >= done for replica in replicas):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the replicas of :{port} did not catch up")
            time.sleep(0.05)  # a replica acknowledges about once a second

    def kill(self, port: int) -> None:
        """SIGKILL the node on `port`, as a crash would (its replica takes over)."""
        client = self._clients.pop(port, None)
        if client is not None:
            client.close()
        self.nodes[self.ports.index(port)].kill()

    def flush(self) -> None:
        """Empty every master (replicas follow)."""
        for port in self.masters():
            self.client(port).flushall()

    @property
    def running(self) -> bool:
        return all(node.running for node in self.nodes)

    def stop(self) -> None:
        """Stop every node."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        for node in self.nodes:
            node.stop()
