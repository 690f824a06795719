#!/usr/bin/env python3
"""A local Redis Cluster or Sentinel setup for the Rust, Node and Python test suites (stdlib only).

    python3 tests/support/topology.py cluster     # 3 masters + 3 replicas, --cluster-node-timeout 1000
    python3 tests/support/topology.py sentinel    # a primary, a replica and 3 Sentinels (down after 1 s)

Starts ``redis-server`` processes (``redis-server --sentinel`` for the Sentinels) on free loopback ports in a
temporary directory, waits until the topology is ready, then prints ONE line of JSON on stdout:

    cluster:  {"kind": "cluster", "nodes": [{"port": 7000, "pid": 123}, ...]}       (6 nodes)
    sentinel: {"kind": "sentinel", "master_name": "mymaster",
               "primary": {"port": .., "pid": ..}, "replica": {...}, "sentinels": [{...} x3]}

It is then driven line by line over stdin; each command gets one answer line, ``OK ...`` or ``ERR <why>``:

    kill <port>         SIGKILL the server on <port> (one this helper started) and wait for it to exit.
    master-of <key>     (cluster) ``OK <port>``: the port of the master serving <key>'s slot now.
    primary             (sentinel) ``OK <port>``: the port the Sentinels name as the primary now.
    wait-failover <port> <seconds> [<key>]
                        ``OK <port> <ms>``: wait until a master other than <port> serves <key>'s slot
                        (cluster; without a key, the first slot <port> served when asked) or the Sentinels
                        name another primary (sentinel); the new port and the time it took.
    quit                kill everything, answer ``OK`` and exit 0.

End of input on stdin does the same without answering, so the servers die with the process that owns the
helper's stdin: a test run never leaves a server behind, and the helper never touches a server it did not
start. The ready line comes within about 3 s (cluster) or 5 s (sentinel) on a 2-core machine.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

NODE_TIMEOUT_MS = 1000
MASTER_NAME = "mymaster"


def free_port():
    """A free loopback port whose +10000 (the cluster bus port) is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair found")


class Topology:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="stratacache-topology-")
        self.procs = {}

    def spawn(self, port, args):
        log = open(os.path.join(self.dir, f"{port}.log"), "wb")
        proc = subprocess.Popen(
            ["redis-server", *args],
            cwd=self.dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.procs[port] = proc
        return proc

    def server(self, port, extra=()):
        return self.spawn(port, ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                 "--dir", self.dir, *extra])

    def kill(self, port):
        proc = self.procs.get(port)
        if proc is None:
            raise ValueError(f"no server of this helper on port {port}")
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    def close(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def command(port, *args, timeout=1.0):
    """One command over a fresh connection; the reply decoded (enough RESP2 for this helper)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        payload = f"*{len(args)}\r\n" + "".join(f"${len(str(a).encode())}\r\n{a}\r\n" for a in args)
        s.sendall(payload.encode())
        f = s.makefile("rb")
        return read_reply(f)


def read_reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode(errors="replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [read_reply(f) for _ in range(n)]
    raise RuntimeError(f"unexpected reply {line!r}")


def wait_until(what, check, seconds):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, RuntimeError, ConnectionError) as e:
            last = e
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready within {seconds} s ({last})")


def key_slot(port, key):
    return command(port, "CLUSTER", "KEYSLOT", key)


def slot_master(ports, slot):
    """The port of the master serving `slot`, asked of any live node."""
    for p in ports:
        try:
            for start, end, master, *_ in command(p, "CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    return master[1]
        except (OSError, RuntimeError, ConnectionError):
            continue
    return None


def start_cluster(t):
    ports = [free_port() for _ in range(6)]
    for p in ports:
        t.server(p, ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{p}.conf",
                     "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--cluster-replica-validity-factor", "0"])
    for p in ports:
        wait_until(f"redis-server {p}", lambda p=p: command(p, "PING") == "PONG", 10)
    subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                    "--cluster-replicas", "1", "--cluster-yes"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def ready():
        for p in ports:
            info = command(p, "CLUSTER", "INFO")
            if "cluster_state:ok" not in info or "cluster_known_nodes:6" not in info:
                return False
        # Every replica has synced with its master.
        for p in ports:
            repl = command(p, "INFO", "replication")
            if "role:slave" in repl and "master_link_status:up" not in repl:
                return False
        return True

    wait_until("the cluster", ready, 30)
    return {"kind": "cluster", "nodes": [{"port": p, "pid": t.procs[p].pid} for p in ports]}


def sentinel_primary(sentinels):
    for s in sentinels:
        try:
            addr = command(s, "SENTINEL", "get-master-addr-by-name", MASTER_NAME)
            if addr:
                return int(addr[1])
        except (OSError, RuntimeError, ConnectionError):
            continue
    return None


def start_sentinel(t):
    primary, replica = free_port(), free_port()
    t.server(primary)
    t.server(replica, ["--replicaof", "127.0.0.1", str(primary)])
    # The replica first: a Sentinel learns the replicas from its first INFO of the primary (later only
    # every 10 s).
    wait_until("the replica", lambda: "master_link_status:up" in command(replica, "INFO", "replication"), 15)
    sentinels = [free_port() for _ in range(3)]
    for s in sentinels:
        conf = os.path.join(t.dir, f"sentinel-{s}.conf")
        with open(conf, "w") as f:
            f.write(f"port {s}\nbind 127.0.0.1\ndir {t.dir}\n"
                    f"sentinel monitor {MASTER_NAME} 127.0.0.1 {primary} 2\n"
                    f"sentinel down-after-milliseconds {MASTER_NAME} {NODE_TIMEOUT_MS}\n"
                    f"sentinel failover-timeout {MASTER_NAME} 5000\n"
                    f"sentinel parallel-syncs {MASTER_NAME} 1\n")
        t.spawn(s, [conf, "--sentinel"])

    def ready():
        if "master_link_status:up" not in command(replica, "INFO", "replication"):
            return False
        for s in sentinels:
            fields = command(s, "SENTINEL", "master", MASTER_NAME)
            info = dict(zip(fields[::2], fields[1::2]))
            if int(info["num-slaves"]) < 1 or int(info["num-other-sentinels"]) < 2:
                return False
        return True

    wait_until("the Sentinel setup", ready, 30)
    entry = lambda p: {"port": p, "pid": t.procs[p].pid}
    return {"kind": "sentinel", "master_name": MASTER_NAME, "primary": entry(primary), "replica": entry(replica),
            "sentinels": [entry(s) for s in sentinels]}


def serve(t, info):
    kind = info["kind"]
    data_ports = [n["port"] for n in info["nodes"]] if kind == "cluster" else [info["primary"]["port"], info["replica"]["port"]]
    sentinels = [s["port"] for s in info.get("sentinels", [])]
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "quit":
                print("OK", flush=True)
                return
            if words[0] == "kill":
                t.kill(int(words[1]))
                answer = "OK"
            elif words[0] == "master-of" and kind == "cluster":
                live = [p for p in data_ports if t.procs[p].poll() is None]
                answer = f"OK {slot_master(live, key_slot(live[0], words[1]))}"
            elif words[0] == "primary" and kind == "sentinel":
                answer = f"OK {sentinel_primary(sentinels)}"
            elif words[0] == "wait-failover":
                old, seconds = int(words[1]), float(words[2])
                start = time.monotonic()
                found = {}

                def moved():
                    live = [p for p in data_ports if t.procs[p].poll() is None]
                    if kind == "cluster":
                        if "slot" not in found and len(words) > 3:
                            found["slot"] = key_slot(live[0], words[3])
                        if "slot" not in found:
                            # The first slot the old master served, as a live node still lists it.
                            ranges = [r for r in command(live[0], "CLUSTER", "SLOTS") if r[2][1] == old]
                            if not ranges:
                                raise RuntimeError(f"port {old} serves no slots")
                            found["slot"] = ranges[0][0]
                        new = slot_master(live, found["slot"])
                    else:
                        new = sentinel_primary(sentinels)
                    if new is None or new == old:
                        return False
                    found["port"] = new
                    if kind == "cluster":
                        return "cluster_state:ok" in command(new, "CLUSTER", "INFO")
                    return "role:master" in command(new, "INFO", "replication")

                wait_until("the failover", moved, seconds)
                answer = f"OK {found['port']} {int((time.monotonic() - start) * 1000)}"
            else:
                answer = f"ERR unknown command {words[0]!r} for a {kind}"
        except Exception as e:  # one bad command must not kill the topology
            answer = f"ERR {e}"
        print(answer, flush=True)


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("cluster", "sentinel"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    t = Topology()
    try:
        info = start_cluster(t) if sys.argv[1] == "cluster" else start_sentinel(t)
        print(json.dumps(info), flush=True)
        serve(t, info)
    finally:
        t.close()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()
