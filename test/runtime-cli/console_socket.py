#!/usr/bin/env python3
"""The receiving end of the OCI console socket protocol, for the runtime CLI tests.

usage: console_socket.py SOCKET INPUT MARKER TIMEOUT_S

Listens on the unix socket SOCKET, accepts one connection, receives the pty master with
SCM_RIGHTS (socket.recv_fds), writes INPUT to the master, reads until MARKER appears in what
comes back (or TIMEOUT_S passes), then writes "exit\\n" and reads until the slave side closes.
Prints one JSON object: {"fds": N, "name": <the message text>, "output": <all read>, "found": bool}.
"""
import json
import os
import select
import socket
import sys
import time


def main() -> int:
    path, text, marker, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(timeout)
    result = {"fds": 0, "name": "", "output": "", "found": False}
    try:
        conn, _ = srv.accept()
    except socket.timeout:
        result["error"] = "no connection"
        print(json.dumps(result))
        return 1
    msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 4)
    conn.close()
    result["fds"] = len(fds)
    result["name"] = msg.decode(errors="replace")
    if not fds:
        result["error"] = "no fd received"
        print(json.dumps(result))
        return 1
    master = fds[0]
    for extra in fds[1:]:
        os.close(extra)
    out = b""

    def pump(until: float, stop) -> None:
        nonlocal out
        while time.monotonic() < until and not stop():
            ready, _, _ = select.select([master], [], [], 0.1)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the slave side is closed
                return
            if not chunk:
                return
            out += chunk

    os.write(master, text.encode())
    deadline = time.monotonic() + timeout
    pump(deadline, lambda: marker.encode() in out)
    result["found"] = marker.encode() in out
    os.write(master, b"exit\n")
    pump(time.monotonic() + 2, lambda: False)
    os.close(master)
    result["output"] = out.decode(errors="replace")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
