"""Replays a dialog fixture (tests/fixtures/*.txt) over a raw socket and checks every reply.

Usage: replay_fixture.py PORT FIXTURE [HOST]   (HOST defaults to 127.0.0.1)
For showing the lab session by hand, e.g. against
  labmta serve --config config/labmta.yaml --listen 127.0.0.1:2525 --spool /tmp/spool
Prints the dialog as it goes; exits 1 at the first reply that does not match. The fixture
format and placeholders ({QUEUE_ID}, {ANY}) are those of tests/support/dialog.h.
"""
import re
import socket
import sys


def load_turns(path):
    """[(client_lines, expected_lines)], the first turn being the greeting."""
    turns = []
    with open(path, encoding="utf-8") as fixture:
        for raw in fixture:
            line = raw.rstrip("\r\n")
            if not line or line.startswith("#"):
                continue
            if line == "C:" or line.startswith("C: "):
                if not turns or turns[-1][1]:
                    turns.append(([], []))
                turns[-1][0].append(line[3:])
            elif line.startswith("S: "):
                if not turns:
                    turns.append(([], []))
                turns[-1][1].append(line[3:])
            else:
                raise SystemExit(f"{path}: not a C:, S: or # line: {line!r}")
    return turns


def pattern_regex(pattern):
    parts = re.split(r"(\{QUEUE_ID\}|\{ANY\})", pattern)
    table = {"{QUEUE_ID}": "[0-9A-F]{10,20}", "{ANY}": ".*"}
    return re.compile("".join(table.get(part, re.escape(part)) for part in parts) + r"\Z")


def read_line(stream):
    line = stream.readline()
    if not line:
        raise SystemExit("connection closed by the server")
    return line.decode("utf-8", "replace").rstrip("\r\n")


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    host = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"
    with socket.create_connection((host, port), timeout=10) as sock:
        stream = sock.makefile("rb")
        for client_lines, expected in load_turns(path):
            for line in client_lines:
                print(f"C: {line}")
            sock.sendall("".join(f"{line}\r\n" for line in client_lines).encode())
            for pattern in expected:
                got = read_line(stream)
                print(f"S: {got}")
                if not pattern_regex(pattern).match(got):
                    print(f"MISMATCH: expected {pattern!r}", file=sys.stderr)
                    return 1
    print(f"OK: {path} replayed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
