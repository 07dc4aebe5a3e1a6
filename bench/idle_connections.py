#!/usr/bin/env python3
"""Scenario E's load: opens many idle SMTP connections and counts those greeted with 220.

Connects COUNT sockets as fast as it can (non-blocking), then waits up to TIMEOUT seconds
(counted from the first connect) for each one's 220 greeting. The sockets stay open until
the caller closes them, so that the server's memory can be read while all are connected.
Standalone: idle_connections.py HOST PORT COUNT [--timeout 5] [--pid SERVER_PID]
"""

import argparse
import errno
import resource
import selectors
import socket
import time


def raise_fd_limit():
    """Raises this process's open-file soft limit to the hard limit; returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def open_idle(host, port, count, timeout_s=5.0):
    """Returns (sockets, greeted, failed): all sockets (to be closed by the caller), how many
    saw a 220 line before the deadline, and how many failed to connect or were closed."""
    selector = selectors.DefaultSelector()
    sockets, pending = [], {}
    failed = 0
    start = time.monotonic()
    deadline = start + timeout_s
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex((host, port))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            failed += 1
            continue
        sockets.append(sock)
        pending[sock.fileno()] = b""
        selector.register(sock, selectors.EVENT_READ)
    greeted = 0
    while pending and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
            sock = key.fileobj
            try:
                data = sock.recv(512)
            except OSError:
                data = b""
            if not data:  # refused or closed by the server
                failed += 1
                selector.unregister(sock)
                del pending[sock.fileno()]
                continue
            buffered = pending[sock.fileno()] + data
            if b"\n" in buffered:
                if buffered.startswith(b"220"):
                    greeted += 1
                else:
                    failed += 1  # e.g. 421 too many connections
                selector.unregister(sock)
                del pending[sock.fileno()]
            else:
                pending[sock.fileno()] = buffered
    selector.close()
    return sockets, greeted, failed


def read_status_kb(pid, field):
    """A 'VmRSS'/'VmHWM' line of /proc/<pid>/status, in kB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--pid", type=int, help="server pid: print its RSS growth")
    options = parser.parse_args()
    print(f"open-file limit {raise_fd_limit()}")
    before = read_status_kb(options.pid, "VmRSS") if options.pid else 0
    sockets, greeted, failed = open_idle(options.host, options.port, options.count,
                                         options.timeout)
    print(f"greeted {greeted} of {options.count} within {options.timeout} s, {failed} failed")
    if options.pid and greeted:
        during = read_status_kb(options.pid, "VmRSS")
        print(f"server RSS {before} kB -> {during} kB: "
              f"{(during - before) * 1024 / greeted:.0f} bytes per connection")
    for sock in sockets:
        sock.close()
    return 0 if greeted == options.count else 1


if __name__ == "__main__":
    raise SystemExit(main())
