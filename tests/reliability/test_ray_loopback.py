"""Issue 14: the embedded local Ray listens on 127.0.0.1 only, and an unreachable --address fails
fast in one line instead of hanging in ray.init."""
import json
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.ray

# Runs in a fresh interpreter: the test session may already hold a Ray started another way.
# Starts the embedded Ray, runs a small system on it, then lists every listening TCP socket
# (from /proc/net/tcp{,6}) owned by this process or any process it started.
PROBE = r"""
import json, os
from lolpim.actors.demo.pipeline import PipelineShape
from lolpim.actors.kernel.ray_executor import RayExecutor, ensure_ray
import ray

ensure_ray(num_cpus=2)
RayExecutor(max_processes=2).run(PipelineShape((1000, 1000), 100, 2, 3).system())

def parent(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])

parents = {}
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            parents[int(p)] = parent(p)
        except OSError:
            pass
mine, grew = {os.getpid()}, True
while grew:
    grew = False
    for p, pp in parents.items():
        if pp in mine and p not in mine:
            mine.add(p)
            grew = True
owner = {}
for pid in mine:
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                owner[link[8:-1]] = pid
    except OSError:
        pass

def addr(hex_ip):
    raw = bytes.fromhex(hex_ip)
    if len(raw) == 4:
        return ".".join(str(b) for b in raw[::-1])
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
    raw = b"".join(words)
    if raw[:12] == b"\0" * 10 + b"\xff\xff":       # IPv4-mapped IPv6
        return ".".join(str(b) for b in raw[12:])
    return raw.hex()

listening = []
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    with open(table) as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in owner:        # 0A: LISTEN
                ip, port = cols[1].split(":")
                pid = owner[cols[9]]
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as c:
                        cmd = c.read().replace(b"\0", b" ").decode(errors="replace")[:120]
                except OSError:         # the process exited meanwhile (an idle worker): its socket still counts
                    cmd = f"pid {pid} (exited)"
                listening.append([addr(ip), int(port, 16), cmd])
ray.shutdown()
print("LISTENING " + json.dumps(listening))
"""


def test_embedded_ray_listens_only_on_loopback():
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(text for text in proc.stdout.splitlines() if text.startswith("LISTENING "))
    listening = json.loads(line[len("LISTENING "):])
    assert len(listening) >= 3, listening        # GCS, raylet, workers at least: the probe saw them
    exposed = [s for s in listening if s[0] != "127.0.0.1"]
    assert not exposed, f"Ray sockets listening beyond 127.0.0.1: {exposed}"


@pytest.mark.parametrize("address", ["127.0.0.1:1", "no-such-host.invalid:6379", "ray://no-such-host.invalid:10001"])
def test_unreachable_address_fails_fast_naming_the_flag(address):
    from lolpim.actors.kernel.ray_executor import check_reachable
    from lolpim.core.errors import UserError
    t0 = time.monotonic()
    with pytest.raises(UserError) as err:
        check_reachable(address)
    assert time.monotonic() - t0 < 10
    assert str(err.value).startswith(f"--address '{address}'") and "\n" not in str(err.value)


def test_ray_executor_checks_the_address_before_ray_init():
    # in a fresh interpreter, so no Ray is running yet and ensure_ray must get to the check
    code = ("from lolpim.actors.kernel.ray_executor import ensure_ray\n"
            "from lolpim.core.errors import UserError\n"
            "try:\n    ensure_ray('127.0.0.1:1')\nexcept UserError as e:\n    print('ERR', e)\n")
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert time.monotonic() - t0 < 20
    assert "ERR --address '127.0.0.1:1': cannot reach" in proc.stdout, proc.stdout + proc.stderr
