"""Python's docker library (Debian's python3-docker) through its everyday calls against one daemon.

Usage: python3 everyday.py unix:///path/to/socket SUBNET
Prints one JSON object of outcomes (names, outputs, exit codes, error classes and messages), the
same for two daemons that behave alike; ids and times are left out. Creates only cfpy-* objects
and removes them, also after a failure. Never pulls: every image is busybox, already present.
"""

import json
import re
import sys
import time

import docker
from docker.types import IPAMConfig, IPAMPool

base_url, subnet = sys.argv[1], sys.argv[2]
c = docker.DockerClient(base_url=base_url, version="1.41", timeout=60)
out = {}


def error_of(fn):
    try:
        fn()
    except docker.errors.APIError as e:
        return [type(e).__name__, e.status_code, e.explanation]
    return None


def image_error_of(fn):
    """An image lookup's error; dockerd 20.10 repeats "no such image: NAME: " before the message newer dockerds (and cove) give."""
    e = error_of(fn)
    if e and isinstance(e[2], str):
        e[2] = re.sub(r"^no such image: .*?: (?=No such image: )", "", e[2])
    return e


def cleanup():
    for name in ["cfpy-run", "cfpy-c", "cfpy-sleep", "cfpy-ev"]:
        try:
            c.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass
    for name in ["cfpy-tag:1"]:
        try:
            c.images.remove(name, force=True)
        except docker.errors.ImageNotFound:
            pass
    try:
        c.volumes.get("cfpy-vol").remove(force=True)
    except docker.errors.NotFound:
        pass
    for n in c.networks.list(names=["cfpy-net"]):
        n.remove()


try:
    # system
    out["ping"] = c.ping()
    out["version"] = sorted(k for k in c.version() if k != "Platform")
    info = c.info()
    out["info"] = [info["OSType"], info["Containers"] >= 0, "Images" in info, "Driver" in info]
    # BuilderSize left /system/df in API 1.42 (engine-api-CHANGELOG); dockerd 20.10 still sends it
    out["df"] = sorted(k for k in c.df() if k != "BuilderSize")

    # containers
    # stdout and stderr together: their order across the two streams is not defined
    out["run"] = sorted(c.containers.run("busybox", ["sh", "-c", "echo hello; echo oops >&2"], name="cfpy-run", network_mode="none", stderr=True, remove=True).decode().splitlines())
    ctr = c.containers.create("busybox", ["sh", "-c", "echo created; exit 3"], name="cfpy-c", network_mode="none", labels={"cfpy": "1"})
    out["created"] = [ctr.name, ctr.status, ctr.labels]
    ctr.start()
    # newer dockerds, and cove, omit an Error of null (the endpoint suite lists it)
    w = ctr.wait()
    out["wait"] = [w["StatusCode"], w.get("Error")]
    out["logs"] = ctr.logs().decode()
    out["logs_tail"] = ctr.logs(tail=1, stderr=False).decode()
    ctr.reload()
    out["exited"] = [ctr.status, ctr.attrs["State"]["ExitCode"]]
    out["list"] = sorted(x.name for x in c.containers.list(all=True, filters={"label": "cfpy=1"}))
    ctr.remove()
    out["get_removed"] = error_of(lambda: c.containers.get("cfpy-c"))
    out["remove_missing"] = error_of(lambda: c.api.remove_container("cfpy-missing"))
    sleeper = c.containers.run("busybox", ["sleep", "600"], name="cfpy-sleep", detach=True)
    sleeper.reload()
    out["running"] = [sleeper.status, sorted(sleeper.attrs["NetworkSettings"]["Networks"])]
    ex = sleeper.exec_run(["sh", "-c", "echo in; exit 4"])
    out["exec_run"] = [ex.exit_code, ex.output.decode()]
    out["top"] = sleeper.top()["Titles"][:2]
    out["stats"] = sorted(k for k in sleeper.stats(stream=False) if k in ("read", "cpu_stats", "memory_stats", "pids_stats", "networks"))
    out["remove_running"] = error_of(lambda: sleeper.remove())[:2]

    # networks
    net = c.networks.create("cfpy-net", driver="bridge", ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=subnet)]), labels={"cfpy": "1"})
    out["network"] = [net.name, net.attrs["Driver"], net.attrs["Labels"]]
    net.connect(sleeper)
    sleeper.reload()
    out["connected"] = sorted(sleeper.attrs["NetworkSettings"]["Networks"])
    net.reload()
    out["network_containers"] = [x.name for x in net.containers]
    net.disconnect(sleeper)
    sleeper.reload()
    out["disconnected"] = sorted(sleeper.attrs["NetworkSettings"]["Networks"])
    out["networks"] = sorted(n.name for n in c.networks.list(names=["cfpy-net"]))
    net.remove()
    out["network_missing"] = error_of(lambda: c.networks.get("cfpy-net"))
    sleeper.remove(force=True)

    # images
    img = c.images.get("busybox")
    out["image"] = [img.tags, img.attrs["Os"], img.attrs["Config"]["Cmd"]]
    img.tag("cfpy-tag", "1")
    out["tagged"] = sorted(c.images.get("cfpy-tag:1").tags)
    out["images"] = sorted(t for i in c.images.list() for t in i.tags)
    c.images.remove("cfpy-tag:1")
    out["untagged"] = image_error_of(lambda: c.images.get("cfpy-tag:1"))
    out["image_missing"] = image_error_of(lambda: c.images.get("cfpy-nosuch"))
    out["history"] = sorted(c.images.get("busybox").history()[0])

    # volumes
    vol = c.volumes.create("cfpy-vol", labels={"a": "b"})
    out["volume"] = [vol.name, vol.attrs["Driver"], vol.attrs["Labels"], vol.attrs["Scope"]]
    out["volumes"] = [v.name for v in c.volumes.list(filters={"name": "cfpy-vol"})]
    vol.remove()
    out["volume_missing"] = error_of(lambda: c.volumes.get("cfpy-vol"))

    # events, filtered to one container
    since = int(time.time()) - 1
    ev = c.containers.run("busybox", ["true"], name="cfpy-ev", network_mode="none", detach=True)
    ev.wait()
    ev.remove()
    until = int(time.time()) + 1
    out["events"] = [[e["Type"], e["Action"]] for e in c.events(since=since, until=until, filters={"container": "cfpy-ev"}, decode=True)]
finally:
    cleanup()

print(json.dumps(out, sort_keys=True))
