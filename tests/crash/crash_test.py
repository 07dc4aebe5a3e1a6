#!/usr/bin/env python3
"""Crash safety test (issue 4, item 5): kill -9 labmta at random moments under load, restart it
on the same spool, and prove that no acknowledged message is lost, no mailbox file is partial,
no message is delivered twice (Maildir names are the same on every attempt and never replaced),
and the server never crashed on its own. Python 3 standard library only; 127.0.0.1 only; every wait bounded.

Usage: crash_test.py --labmta build/labmta [--kills 200] [--seconds 900] [--clients 8]
Exit 0: all checks passed; 1: a check failed (the work dir is kept for the report);
77: something essential is missing (CTest shows it as skipped).
"""
import argparse
import base64
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

SKIP = 77
DOMAIN = "domain.local"
USERS = [f"user{i}" for i in range(8)]
SOCKET_TIMEOUT_S = 15.0
READY_TIMEOUT_S = 30.0
KILL_WAIT_S = 10.0
TERM_WAIT_S = 30.0
MAX_KILL_DELAY_S = 0.3
DRAIN_STALL_S = 60.0
QUEUED_RE = re.compile(r"^250 2\.0\.0 Ok: queued as ([0-9A-F]+)\s*$")


class ConnectionDied(Exception):
    """The server went away (our SIGKILL) or did not answer in time."""


# ---------------------------------------------------------------- shared client state


class Ledger:
    """Every message a client tried, by marker: recipients and what the client saw."""

    # unsent: the connection died before 354 (nothing can have been committed);
    # inflight: 354 seen, the final reply to DATA never came; acked: 250 queued as <ID>;
    # rejected: a final reply other than 250 to DATA.
    def __init__(self):
        self.lock = threading.Lock()
        self.records = {}

    def add(self, marker, recipients, size):
        with self.lock:
            self.records[marker] = {"rcpts": recipients, "state": "unsent", "qid": None,
                                    "size": size, "reply": None}

    def set(self, marker, state, qid=None, reply=None):
        with self.lock:
            record = self.records[marker]
            record["state"], record["qid"], record["reply"] = state, qid, reply


class ClientPhases:
    """What each client is doing right now, so each kill can say where it landed."""

    def __init__(self, count):
        self.lock = threading.Lock()
        self.phase = ["idle"] * count

    def set(self, index, phase):
        with self.lock:
            self.phase[index] = phase

    def snapshot(self):
        with self.lock:
            return list(self.phase)


# ---------------------------------------------------------------- SMTP over a raw socket


class SmtpConn:
    def __init__(self, port):
        try:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_S)
        except OSError as error:
            raise ConnectionDied(str(error)) from error
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise ConnectionDied(str(error)) from error

    def readline(self):
        while b"\r\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except OSError as error:
                raise ConnectionDied(str(error)) from error
            if not chunk:
                raise ConnectionDied("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """One reply, multi-line (RFC 5321 4.2.1) folded into a list; returns (code, lines)."""
        lines = []
        while True:
            line = self.readline()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return line[:3], lines


def make_message(rng, marker, sender, recipients, large):
    """The message as sent (CRLF, dot-stuffed) and its size. Its body starts with
    "BEGIN <marker>" and ends with "END <marker>"; X-Crash-Body carries its length and
    SHA-256 (LF line endings, as delivered), so any truncation or corruption shows."""
    if large:
        raw = base64.b64encode(os.urandom(rng.randint(50_000, 200_000) * 3 // 4)).decode()
    else:
        raw = base64.b64encode(os.urandom(rng.randint(100, 4000) * 3 // 4)).decode()
    lines = [f"BEGIN {marker}"]
    for start in range(0, len(raw), 76):
        line = raw[start:start + 76]
        if rng.random() < 0.02:
            line = "." + line  # exercises dot-stuffing
        lines.append(line)
    lines.append(f"END {marker}")
    body = "\n".join(lines) + "\n"
    digest = hashlib.sha256(body.encode()).hexdigest()
    headers = [
        f"From: <{sender}>",
        "To: " + ", ".join(f"<{r}>" for r in recipients),
        f"Subject: crash test {marker}",
        f"Message-ID: <{marker}@crash.test>",
        f"X-Crash-Marker: {marker}",
        f"X-Crash-Body: {len(body)} {digest}",
    ]
    wire_lines = headers + [""] + ["." + l if l.startswith(".") else l for l in lines]
    wire = ("\r\n".join(wire_lines) + "\r\n.\r\n").encode()
    return wire, len(body)


class Client(threading.Thread):
    """Sends messages in a loop; reconnects to whatever port the ready file names."""

    def __init__(self, index, ready_path, ledger, phases, stop, seed):
        super().__init__(name=f"client{index}", daemon=True)
        self.index, self.ready_path = index, ready_path
        self.ledger, self.phases, self.stop = ledger, phases, stop
        self.rng = random.Random(seed)
        self.pipelining = index % 2 == 0  # half the clients pipeline when offered
        self.conn, self.can_pipeline = None, False
        self.errors = []

    def run(self):
        try:
            while not self.stop.is_set():
                if self.conn is None and not self.connect():
                    self.stop.wait(0.01)
                    continue
                try:
                    self.send_one()
                    if self.rng.random() < 0.15:
                        self.conn.send(b"QUIT\r\n")
                        self.conn.reply()
                        self.drop()
                except ConnectionDied:
                    self.drop()
        except Exception as error:  # a bug in this script: report it, never hang
            self.errors.append(repr(error))
        finally:
            self.drop()
            self.phases.set(self.index, "idle")

    def drop(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def connect(self):
        try:
            with open(self.ready_path) as f:
                first = f.readline().strip()
            port = int(first.rsplit(":", 1)[1])
        except (OSError, ValueError, IndexError):
            return False
        try:
            conn = SmtpConn(port)
            code, _ = conn.reply()
            if code != "220":
                conn.close()
                return False
            conn.send(f"EHLO crash{self.index}.test\r\n".encode())
            code, lines = conn.reply()
            if code != "250":
                conn.close()
                return False
        except ConnectionDied:
            return False
        self.conn = conn
        self.can_pipeline = any(l[4:].upper().startswith("PIPELINING") for l in lines)
        return True

    def send_one(self):
        marker = str(uuid.uuid4())
        sender = f"client{self.index}@crash.test"
        recipients = [f"{u}@{DOMAIN}" for u in self.rng.sample(USERS, self.rng.randint(1, 3))]
        wire, size = make_message(self.rng, marker, sender, recipients, self.rng.random() < 0.25)
        self.ledger.add(marker, recipients, size)
        commands = [f"MAIL FROM:<{sender}>"] + [f"RCPT TO:<{r}>" for r in recipients] + ["DATA"]
        self.phases.set(self.index, "envelope")
        if self.pipelining and self.can_pipeline:
            self.conn.send("".join(c + "\r\n" for c in commands).encode())
            replies = [self.conn.reply() for _ in commands]
        else:
            replies = []
            for command in commands:
                self.conn.send((command + "\r\n").encode())
                replies.append(self.conn.reply())
                if replies[-1][0][0] not in "23":
                    break
        if any(code[0] not in "23" for code, _ in replies) or replies[-1][0] != "354":
            self.ledger.set(marker, "rejected", reply=" | ".join(l[-1] for _, l in replies))
            self.conn.send(b"RSET\r\n")
            self.conn.reply()
            return
        self.ledger.set(marker, "inflight")
        self.phases.set(self.index, "data")
        # Some large messages come slowly, as from a slow link, so that kills land in DATA too.
        slow = len(wire) > 50_000 and self.rng.random() < 0.3
        chunk = 4096 if slow else self.rng.choice([4096, 16384, 65536])
        for start in range(0, len(wire) - 5, chunk):  # the last bytes hold back the terminator
            self.conn.send(wire[start:min(start + chunk, len(wire) - 5)])
            if slow:
                time.sleep(0.002)
        self.phases.set(self.index, "commit")
        self.conn.send(wire[len(wire) - 5:])
        code, lines = self.conn.reply()
        self.phases.set(self.index, "idle")
        match = QUEUED_RE.match(lines[-1])
        if code == "250" and match:
            self.ledger.set(marker, "acked", qid=match.group(1), reply=lines[-1])
        else:
            self.ledger.set(marker, "rejected", reply=lines[-1])


# ---------------------------------------------------------------- the server


class Server:
    def __init__(self, binary, config, spool, ready, work):
        self.binary, self.config, self.spool = binary, config, spool
        self.ready, self.work = ready, work
        self.runs = []  # (pid, log path, how it ended)
        self.proc = None
        self.log = None

    def start(self, wait_ready=True):
        # A stale ready file would send clients to the dead port and make us think it is up.
        for path in (self.ready, self.ready + ".tmp"):
            if os.path.exists(path):
                os.unlink(path)
        log_path = os.path.join(self.work, f"server-{len(self.runs):04d}.log")
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--config", self.config, "--listen", "127.0.0.1:0",
             "--spool", self.spool, "--user", "nobody", "--ready-file", self.ready],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.runs.append({"pid": self.proc.pid, "log": log_path, "end": None})
        if wait_ready:
            return self.wait_ready()
        return True

    def wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if os.path.exists(self.ready):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.005)
        return False

    def kill(self):
        """SIGKILL; returns None when it died of our signal, else how it had ended."""
        early = self.proc.poll()
        if early is None:
            self.proc.send_signal(signal.SIGKILL)
        try:
            rc = self.proc.wait(KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            rc = "did not die"
        self.finish(rc)
        if early is not None:
            return f"exited on its own with {describe_rc(early)} before our SIGKILL"
        return None if rc == -signal.SIGKILL else f"ended with {describe_rc(rc)}"

    def terminate(self):
        """SIGTERM (clean stop); returns None when it exited 0."""
        if self.proc.poll() is not None:
            rc = self.proc.returncode
            self.finish(rc)
            return f"exited on its own with {describe_rc(rc)} before SIGTERM"
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(TERM_WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(KILL_WAIT_S)
            self.finish("timeout")
            return f"did not stop within {TERM_WAIT_S:.0f} s of SIGTERM"
        self.finish(rc)
        return None if rc == 0 else f"exited with {describe_rc(rc)} after SIGTERM"

    def finish(self, rc):
        self.runs[-1]["end"] = rc
        self.log.close()
        self.proc = None

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(KILL_WAIT_S)
            except subprocess.TimeoutExpired:
                pass
        if self.log is not None and not self.log.closed:
            self.log.close()


def describe_rc(rc):
    if isinstance(rc, int) and rc < 0:
        return f"signal {signal.Signals(-rc).name}"
    return f"exit code {rc}"


def write_config(path, spool):
    with open(path, "w") as f:
        f.write(
            "hostname: crash.domain.local\n"
            "listen:\n  - 127.0.0.1:0\n"
            f"spool: {spool}\n"
            f"local_domains:\n  - {DOMAIN}\n"
            "local_recipients: any\n"
            "users:\n  - name: student\n    password: \"hessovs!\"\n")


def queue_files(spool):
    try:
        return sorted(os.listdir(os.path.join(spool, "incoming")))
    except OSError:
        return []


# ---------------------------------------------------------------- checking the mailboxes


def parse_delivered(path):
    """Returns (fields, problem): fields from the headers we need, problem when partial."""
    with open(path, "rb") as f:
        data = f.read()
    head, sep, body = data.partition(b"\n\n")
    if not sep:
        return None, "no end of header"
    fields = {}
    for line in re.sub(rb"\n[ \t]+", b" ", head).split(b"\n"):
        name, _, value = line.partition(b":")
        key = name.decode("ascii", "replace").lower()
        if key in ("x-crash-marker", "x-crash-body", "delivered-to") and key not in fields:
            fields[key] = value.decode("utf-8", "replace").strip()
        if key == "received" and "qid" not in fields:
            match = re.search(rb"\bid ([0-9A-F]+)", value)
            if match:
                fields["qid"] = match.group(1).decode()
    marker = fields.get("x-crash-marker")
    if not marker:
        return fields, "no X-Crash-Marker header"
    try:
        length, digest = fields["x-crash-body"].split()
    except (KeyError, ValueError):
        return fields, "no X-Crash-Body header"
    if not body.endswith(f"END {marker}\n".encode()):
        return fields, f"body does not end with END {marker}"
    if len(body) != int(length) or hashlib.sha256(body).hexdigest() != digest:
        return fields, f"body length/SHA-256 differ ({len(body)} bytes, expected {length})"
    return fields, None


def scan_mailboxes(spool):
    """copies[(marker, address)] = [(file name, qid)]; plus partial files and tmp leftovers."""
    copies, partial, strays, tmp_left = {}, [], [], []
    root = os.path.join(spool, "mailboxes")
    for domain in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        for user in sorted(os.listdir(os.path.join(root, domain))):
            box = os.path.join(root, domain, user)
            address = f"{user}@{domain}"
            tmp_dir = os.path.join(box, "tmp")
            if os.path.isdir(tmp_dir):
                tmp_left += [os.path.join(tmp_dir, n) for n in os.listdir(tmp_dir)]
            for sub in ("new", "cur"):
                folder = os.path.join(box, sub)
                for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
                    path = os.path.join(folder, name)
                    fields, problem = parse_delivered(path)
                    if problem:
                        partial.append((path, problem))
                        continue
                    if fields.get("delivered-to", "").lower() != address:
                        strays.append((path, f"Delivered-To {fields.get('delivered-to')}"))
                        continue
                    key = (fields["x-crash-marker"], address)
                    copies.setdefault(key, []).append((name, fields.get("qid")))
    return copies, partial, strays, tmp_left


def check(ledger, copies):
    """The verdict over every marker; returns a dict of counts and lists of findings."""
    result = {"lost": [], "dup_acked": [], "dup_unacked": [], "unexplained_dup": [],
              "unacked_delivered": 0, "wrong_state": [], "qid_mismatch": [], "misdelivered": [],
              "unknown": [], "delivered": 0, "copies": 0}
    delivered_markers = set()
    for (marker, address), files in copies.items():
        result["copies"] += len(files)
        delivered_markers.add(marker)
        record = ledger.records.get(marker)
        if record is None:
            result["unknown"].append((marker, address))
            continue
        if address not in record["rcpts"]:
            result["misdelivered"].append((marker, address))
        if record["state"] in ("unsent", "rejected"):
            result["wrong_state"].append((marker, address, record["state"], record["reply"]))
        if record["state"] == "acked" and any(q != record["qid"] for _, q in files):
            result["qid_mismatch"].append((marker, address, record["qid"], [q for _, q in files]))
        if len(files) > 1:
            # Delivery is exactly once: a Maildir copy has the same name on every attempt and
            # the rename into new/ never replaces, so a kill between the rename and the queue
            # update cannot lead to a second copy. Any duplicate is a failure.
            kind = "dup_acked" if record["state"] == "acked" else "dup_unacked"
            result[kind].append((marker, address, [n for n, _ in files]))
            result["unexplained_dup"].append((marker, address, [n for n, _ in files]))
    for marker, record in ledger.records.items():
        if record["state"] == "acked":
            for address in record["rcpts"]:
                if (marker, address) not in copies:
                    result["lost"].append((marker, address, record["qid"]))
        elif record["state"] == "inflight" and marker in delivered_markers:
            result["unacked_delivered"] += 1
    result["delivered"] = len(delivered_markers)
    return result


def log_lines_about(server, qid, limit=12):
    lines = []
    for run in server.runs:
        try:
            with open(run["log"], errors="replace") as f:
                for line in f:
                    if qid in line:
                        lines.append(f"  [pid {run['pid']}, {describe_end(run['end'])}] "
                                     + line.rstrip())
        except OSError:
            pass
    return lines[-limit:]


def describe_end(end):
    return describe_rc(end) if isinstance(end, int) else str(end)


def server_error_lines(server, limit=10):
    found, count = [], 0
    for run in server.runs:
        with open(run["log"], errors="replace") as f:
            for line in f:
                lowered = line.lower()
                if "error" in lowered or "critical" in lowered or "warning" in lowered:
                    count += 1
                    if len(found) < limit:
                        found.append(f"  [pid {run['pid']}] {line.rstrip()}")
    return count, found


# ---------------------------------------------------------------- the run


class Run:
    """One test run: a spool, a server restarted on it again and again, and the clients."""

    def __init__(self, args, work):
        self.args = args
        self.spool = os.path.join(work, "spool")
        config = os.path.join(work, "labmta.yaml")
        ready = os.path.join(work, "ready")
        write_config(config, self.spool)
        self.rng = random.Random(args.seed)
        self.server = Server(args.labmta, config, self.spool, ready, work)
        self.ledger, self.stop = Ledger(), threading.Event()
        self.phases = ClientPhases(args.clients)
        self.clients = [Client(i, ready, self.ledger, self.phases, self.stop, self.rng.random())
                        for i in range(args.clients)]
        self.crashes, self.killed_pids, self.kills = [], set(), 0
        self.stats = {"data": 0, "commit": 0, "queue": 0, "early": 0, "seconds": 0.0,
                      "queued_at_restart": 0, "drained": False}

    def kill_phase(self):
        """Start, wait 0-300 ms, SIGKILL; --kills times or until --seconds ran out."""
        started = time.monotonic()
        for number in range(self.args.kills):
            last = (number == self.args.kills - 1
                    or time.monotonic() - started > self.args.seconds)
            early = self.rng.random() < 0.1  # sometimes during startup (queue scan, delivery)
            if not self.server.start(wait_ready=not early):
                self.crashes.append(f"run {number}: did not become ready: "
                                    f"{describe_rc(self.server.proc.poll())}")
                self.server.kill()
                break
            if number == 0:
                for client in self.clients:
                    client.start()
            self.stats["early"] += early
            time.sleep(self.rng.uniform(0, MAX_KILL_DELAY_S))
            if last:
                self.stop.set()  # no new messages; those in progress die with the server
            self.kill_now(number)
            if last:
                break
        self.stop.set()
        for client in self.clients:
            if client.is_alive():
                client.join(SOCKET_TIMEOUT_S * 2)
        self.stats["seconds"] = time.monotonic() - started

    def kill_now(self, number):
        now = self.phases.snapshot()
        self.stats["data"] += "data" in now
        self.stats["commit"] += "commit" in now
        self.stats["queue"] += bool(queue_files(self.spool))
        pid = self.server.proc.pid
        problem = self.server.kill()
        self.kills += 1
        if problem:
            self.crashes.append(f"run {number} (pid {pid}): {problem}")
        else:
            self.killed_pids.add(pid)

    def final_run(self):
        """No clients: start once more, wait until incoming/ is empty, stop with SIGTERM."""
        self.stats["queued_at_restart"] = len(queue_files(self.spool))
        if self.crashes:
            return
        if not self.server.start():
            self.crashes.append(
                f"final run: did not become ready: {describe_rc(self.server.proc.poll())}")
            self.server.kill()
            return
        # Bounded twice: in all, and by how long the queue may go without shrinking.
        deadline = time.monotonic() + self.args.drain_seconds
        best, last_progress = self.stats["queued_at_restart"] + 1, time.monotonic()
        while time.monotonic() < deadline and self.server.proc.poll() is None:
            queued = len(queue_files(self.spool))
            if queued == 0:
                self.stats["drained"] = True
                break
            if queued < best:
                best, last_progress = queued, time.monotonic()
            elif time.monotonic() - last_progress > DRAIN_STALL_S:
                break
            time.sleep(0.05)
        problem = self.server.terminate()
        if problem:
            self.crashes.append(f"final run: {problem}")

    def execute(self):
        try:
            self.kill_phase()
            self.final_run()
        finally:
            self.stop.set()
            self.server.cleanup()
        return self.report()

    def report(self):
        """Checks the mailboxes, prints what was found and the summary; True when all passed."""
        copies, partial, strays, tmp_left = scan_mailboxes(self.spool)
        verdict = check(self.ledger, copies)
        states = {}
        for record in self.ledger.records.values():
            states[record["state"]] = states.get(record["state"], 0) + 1
        self.print_context(states, tmp_left)
        self.print_duplicates(verdict)
        failures = self.failures(verdict, partial, strays, tmp_left)
        for failure in failures:
            print(failure)
        print(f"crash summary: kills={self.kills} acknowledged={states.get('acked', 0)} "
              f"delivered={verdict['delivered']} copies={verdict['copies']} "
              f"lost={len(verdict['lost'])} duplicated={len(verdict['dup_acked'])} "
              f"unacknowledged-delivered={verdict['unacked_delivered']} "
              f"unacknowledged-duplicated={len(verdict['dup_unacked'])} "
              f"partial={len(partial)} crashes={len(self.crashes)}")
        return not failures

    def print_context(self, states, tmp_left):
        stats, spool_tmp = self.stats, os.path.join(self.spool, "tmp")
        print(f"crash test: {self.kills} kills in {stats['seconds']:.1f} s ({stats['data']} "
              f"while a client was sending DATA, {stats['commit']} while one awaited the reply "
              f"to its end of data, {stats['queue']} with mail in incoming/, {stats['early']} "
              f"before the ready file), {self.args.clients} clients, seed {self.args.seed}")
        if self.kills < self.args.kills:
            print(f"note: --seconds {self.args.seconds:.0f} ran out after {self.kills} of "
                  f"{self.args.kills} kills")
        print(f"client attempts: {len(self.ledger.records)} ("
              + ", ".join(f"{k} {v}" for k, v in sorted(states.items())) + ")")
        print(f"final run: {stats['queued_at_restart']} queue files at restart, "
              f"{'drained' if stats['drained'] else 'NOT drained'}; left in incoming/: "
              f"{len(queue_files(self.spool))}; spool tmp/ leftovers: "
              f"{len(os.listdir(spool_tmp)) if os.path.isdir(spool_tmp) else 0}; Maildir tmp/ "
              f"leftovers: {len(tmp_left)}")
        errors, samples = server_error_lines(self.server)
        print(f"server log lines with error/warning: {errors}")
        for line in samples:
            print(line)

    def print_duplicates(self, verdict):
        for kind, dups in (("acknowledged", verdict["dup_acked"][:5]),
                           ("unacknowledged", verdict["dup_unacked"])):
            for marker, address, names in dups:
                print(f"duplicate ({kind}): {marker} to {address}: {', '.join(names)}")

    def failures(self, verdict, partial, strays, tmp_left):
        left = queue_files(self.spool)
        failures = []
        for marker, address, qid in verdict["lost"][:20]:
            failures.append(f"LOST: {marker} to {address}, acknowledged as {qid}; queue file "
                            f"{'still in' if qid in left else 'not in'} incoming/")
            failures += log_lines_about(self.server, qid)
        labelled = [("PARTIAL", partial), ("STRAY FILE", strays),
                    ("UNKNOWN MARKER DELIVERED", verdict["unknown"]),
                    ("MISDELIVERED", verdict["misdelivered"]),
                    ("DELIVERED ALTHOUGH NOT ACCEPTED", verdict["wrong_state"]),
                    ("QUEUE ID MISMATCH (committed twice?)", verdict["qid_mismatch"]),
                    ("DELIVERED TWICE", verdict["unexplained_dup"]),
                    ("SERVER CRASH", [(c,) for c in self.crashes]),
                    # Each start removes what a killed delivery left in tmp/; the final run
                    # was started after the last kill and stopped cleanly.
                    ("MAILDIR TMP LEFTOVER", [(path,) for path in tmp_left])]
        for label, items in labelled:
            failures += [f"{label}: " + ": ".join(map(str, item)) for item in items[:20]]
        hung = [c.name for c in self.clients if c.is_alive()]
        if hung:
            failures.append(f"CLIENTS DID NOT STOP: {hung}")
        errors = [e for c in self.clients for e in c.errors]
        if errors:
            failures.append(f"CLIENT SCRIPT ERRORS: {errors[:5]}")
        if not self.stats["drained"]:
            failures.append(f"QUEUE NOT DRAINED (bound {self.args.drain_seconds:.0f} s, stall "
                            f"{DRAIN_STALL_S:.0f} s): {len(left)} left, e.g. {left[:5]}")
        return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labmta", required=True, help="the built labmta binary")
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs (default 200)")
    parser.add_argument("--seconds", type=float, default=900,
                        help="bound on the kill phase; fewer kills if reached (default 900)")
    parser.add_argument("--clients", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--drain-seconds", type=float, default=600,
                        help="bound on the final delivery of the queue (default 600; it also "
                             f"fails when the queue does not shrink for {DRAIN_STALL_S:.0f} s)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir even on success")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 32)
    if not (os.path.isfile(args.labmta) and os.access(args.labmta, os.X_OK)):
        print(f"skipped: {args.labmta} is not an executable", file=sys.stderr)
        return SKIP
    if args.kills < 1 or args.clients < 1:
        parser.error("--kills and --clients must be at least 1")
    args.labmta = os.path.abspath(args.labmta)
    work = tempfile.mkdtemp(prefix="labmta-crash-")
    os.chmod(work, 0o755)  # as root the server drops to --user nobody, which needs the spool
    ok = False
    try:
        ok = Run(args, work).execute()
    finally:
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work dir kept for inspection: {work}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
