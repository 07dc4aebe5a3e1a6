#!/usr/bin/env python3
"""labmta benchmark (issue 5): throughput against Postfix's smtp-sink, idle-connection and
large-message memory, and instructions per message under callgrind. Started by bench/run.sh,
which builds labmta and unpacks smtp-source/smtp-sink; see bench/README.md for the scenarios.
Exit status: 0 ok, 1 a message was lost or a tool failed, 2 (full runs only) a target missed.
"""

import argparse
import datetime
import os
import platform
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import idle_connections  # noqa: E402  (the scenario E load, also usable standalone)

REPO = Path(__file__).resolve().parent.parent
DOMAIN = "domain.local"

# Throughput scenarios, run by smtp-source against smtp-sink, then against labmta.
# reuse: -d, many messages per connection; without it smtp-source connects once per message.
# pairs: how many times a full run runs the scenario, smtp-sink then labmta each time; the
# table shows the pair with the median ratio (an odd count, so that there is one). A's and C's
# smtp-sink runs last 0.1-0.2 s, and one such pair alone moved between 0.41 and 0.71 here.
THROUGHPUT = {
    "A": dict(what="1 session, 1 KB", sessions=1, messages=2000, size=1024, reuse=True,
              target=0.30, smoke=20, pairs=5),
    "B": dict(what="20 sessions, 1 KB", sessions=20, messages=20000, size=1024, reuse=True,
              target=0.50, smoke=200, pairs=3),
    "C": dict(what="100 sessions, new connection per message", sessions=100, messages=1000,
              size=1024, reuse=False, target=0.50, smoke=20, pairs=5),
    "D": dict(what="20 sessions, 200 KB", sessions=20, messages=500, size=200 * 1024,
              reuse=True, target=0.80, smoke=10, pairs=3),
}
IDLE = dict(connections=10000, smoke=200, greeting_s=5.0, max_bytes_per_connection=4096)
BIG = dict(size=50 * 1024 * 1024, smoke=2 * 1024 * 1024, max_growth_kb=2048)
CALLGRIND = dict(baseline=20, messages=220)
# Scenarios whose ceiling is computed from bench/commit_floor, with its message count.
CEILING = {"A": 1000, "B": 2000}
ALL = ["A", "B", "C", "D", "E", "F", "CG"]


def per_message(results, name, messages):
    """A figure summed over a scenario's pairs, per message."""
    return sum(pair[name] for pair in results) / messages


class BenchError(Exception):
    """A tool failed or the setup is broken: the run cannot be trusted."""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, timeout_s, interval_s=0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def status_kb(pid, field):
    return idle_connections.read_status_kb(pid, field)


def process_cpu_s(pid):
    """(user, system) CPU seconds of a running process, all its threads (/proc/<pid>/stat)."""
    # After the command name, index 0 is proc(5)'s field 3: utime and stime are 14 and 15.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def steal_and_total_ticks():
    """(steal, all) clock ticks of the machine's CPUs since boot (/proc/stat's cpu line):
    steal is time the hypervisor gave to other guests while this one wanted to run."""
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:]]
    return ticks[7], sum(ticks[:8])


def steal_share(before, after):
    steal, total = (end - start for start, end in zip(before, after))
    return steal / total if total else 0.0


def children_cpu_s():
    """User + system CPU seconds of the children waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# Started as root, labmta drops to its config's `user:` (default labmta, which a bench machine
# may lack): run it as nobody, as the tests do.
RUN_AS = ("--user", "nobody") if os.geteuid() == 0 else ()


class Labmta:
    """One `labmta serve` with its own config, spool and log file under workdir/name."""

    def __init__(self, binary, workdir, name, limits=None, wrapper=(), ready_timeout_s=15):
        self.dir = workdir / name
        self.spool = self.dir / "spool"
        self.dir.mkdir(parents=True)
        self.dir.chmod(0o755)  # reachable by the unprivileged user labmta drops to
        self.log_path = self.dir / "labmta.log"
        limits = {"connections": 10100, "connections_per_client": 10100, **(limits or {})}
        config = self.dir / "labmta.yaml"
        config.write_text(
            "hostname: bench.domain.local\n"
            'listen:\n  - "127.0.0.1:0"\n'
            f'spool: "{self.spool}"\n'
            f"local_domains:\n  - {DOMAIN}\n"
            "limits:\n" + "".join(f"  {key}: {value}\n" for key, value in limits.items()))
        ready = self.dir / "ready"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [*wrapper, str(binary), "serve", "--config", str(config),
                 "--ready-file", str(ready), *RUN_AS],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        if not wait_until(lambda: ready.exists() or self.process.poll() is not None,
                          ready_timeout_s):
            raise BenchError(f"labmta ({name}) not ready after {ready_timeout_s} s")
        if self.process.poll() is not None:
            raise BenchError(f"labmta ({name}) exited at startup:\n{self.log_tail()}")
        self.port = int(ready.read_text().split()[0].rsplit(":", 1)[1])
        self.pid = self.process.pid  # valgrind runs the server in its own process

    def maildir_count(self, user):
        new = self.spool / "mailboxes" / DOMAIN / user / "new"
        return len(os.listdir(new)) if new.is_dir() else 0

    def queue_empty(self):
        incoming = self.spool / "incoming"
        return not incoming.is_dir() or not os.listdir(incoming)

    def wait_delivered(self, user, expected, timeout_s):
        """Waits until the queue is empty and `expected` messages are in user's Maildir;
        returns the number delivered (more than expected means duplicates)."""
        wait_until(lambda: self.queue_empty() and self.maildir_count(user) >= expected,
                   timeout_s, interval_s=0.1)
        return self.maildir_count(user)

    def log_tail(self, lines=30):
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def log_count(self, needle):
        with open(self.log_path, errors="replace") as log:
            return sum(needle in line for line in log)

    def stop(self, timeout_s=60):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class Postfix:
    """smtp-source and smtp-sink from the unpacked postfix package (bench/run.sh)."""

    def __init__(self, tools):
        self.sbin = Path(tools) / "usr/sbin"
        # They link libpostfix-*.so from the same package, not installed system-wide.
        self.env = {**os.environ, "LD_LIBRARY_PATH": str(Path(tools) / "usr/lib/postfix")}
        self.sink = None

    def start_sink(self, log_path):
        self.sink_port = free_port()
        # smtp-sink refuses to run as root unless told which user to become.
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.sink_log = open(log_path, "wb")
        self.sink = subprocess.Popen(
            [str(self.sbin / "smtp-sink"), *user, f"127.0.0.1:{self.sink_port}", "1024"],
            env=self.env, stdin=subprocess.DEVNULL, stdout=self.sink_log,
            stderr=subprocess.STDOUT)

        def accepting():
            try:
                socket.create_connection(("127.0.0.1", self.sink_port), timeout=1).close()
                return True
            except OSError:
                return self.sink.poll() is not None

        if not wait_until(accepting, 10) or self.sink.poll() is not None:
            raise BenchError(f"smtp-sink did not start; see {log_path}")

    def source(self, port, sessions, messages, size, reuse, recipient, timeout_s):
        """Runs smtp-source; returns its wall time in seconds (monotonic clock) and its CPU
        seconds."""
        command = [str(self.sbin / "smtp-source"), "-s", str(sessions), "-m", str(messages),
                   "-l", str(size), "-M", "bench.example", "-f", "bench@example.org",
                   "-t", recipient, *(["-d"] if reuse else []), f"127.0.0.1:{port}"]
        start, cpu_start = time.monotonic(), children_cpu_s()
        result = subprocess.run(command, env=self.env, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=timeout_s)
        seconds, cpu_s = time.monotonic() - start, children_cpu_s() - cpu_start
        if result.returncode != 0:
            raise BenchError(f"smtp-source failed ({result.returncode}): "
                             f"{' '.join(command)}\n{result.stderr.strip()[-2000:]}")
        return seconds, cpu_s

    def stop(self):
        if self.sink and self.sink.poll() is None:
            self.sink.terminate()
            try:
                self.sink.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.sink.kill()
                self.sink.wait()


class Bench:
    def __init__(self, options, workdir):
        self.options = options
        self.workdir = workdir
        self.postfix = Postfix(options.tools)
        self.rows = []   # table rows
        self.notes = []  # lines printed under the table
        self.lost = False
        self.missed = False
        self.servers = []
        # Built next to labmta (CMake target commit_floor).
        self.floor = Path(options.labmta).parent / "commit_floor"

    def server(self, name, **kwargs):
        server = Labmta(self.options.labmta, self.workdir, name, **kwargs)
        self.servers.append(server)
        return server

    def stop_server(self, server, timeout_s=60):
        """Stops a labmta; one that crashed or did not stop cleanly fails the run."""
        code = server.stop(timeout_s)
        if code != 0:
            raise BenchError(f"labmta ({server.dir.name}) exited with status {code}")

    def row(self, scenario, target, labmta, sink, ratio, delivered, done, ok, lost=False):
        self.lost |= lost
        if lost:
            verdict = "FAIL (delivered ≠ accepted)"
        elif ok is None:
            verdict = "reported"
        elif self.options.smoke:
            verdict = "not judged (smoke)"
        else:
            verdict = "pass" if ok else "FAIL"
            self.missed |= not ok
        self.rows.append([scenario, target, labmta, sink, ratio, delivered, done, verdict])
        print("  " + " | ".join(self.rows[-1]), flush=True)

    def throughput(self, server, key):
        spec = THROUGHPUT[key]
        messages = spec["smoke"] if self.options.smoke else spec["messages"]
        pairs = 1 if self.options.smoke else spec["pairs"]
        sessions = min(spec["sessions"], messages)
        run = dict(sessions=sessions, messages=messages, size=spec["size"], reuse=spec["reuse"],
                   timeout_s=600)
        print(f"{key}: {spec['what']}, {messages} messages, {pairs} pair(s)", flush=True)
        if not self.options.smoke:
            settle_disk()
        floor_before = self.measure_floor(key, sessions)
        # Before the runs, not after them: then the kernel is still writing back their files.
        files_cpu_s = self.files_cpu_s(key, sessions) if floor_before and sessions > 1 else None
        results = []
        for number in range(1, pairs + 1):
            if number > 1:
                settle_disk()
            results.append(self.pair(server, key, number, run))
        # The pair with the median ratio stands for the scenario: its two rates make the ratio.
        median = sorted(results, key=lambda pair: pair["ratio"])[len(results) // 2]
        labmta_rate, sink_rate = median["labmta_rate"], median["sink_rate"]
        # Time stolen by the hypervisor slows whichever run it falls in: shown for each pair.
        self.notes.append(
            f"{key}: {pairs} pair(s), in the order run: labmta / smtp-sink msgs/s = ratio "
            "(CPU time stolen by the hypervisor during the smtp-sink / labmta run): "
            + ", ".join(f"{pair['labmta_rate']:,.0f} / {pair['sink_rate']:,.0f} = "
                        f"{pair['ratio']:.2f} ({pair['sink_steal']:.0%} / "
                        f"{pair['labmta_steal']:.0%})" for pair in results)
            + ("; the table shows the pair with the median ratio" if pairs > 1 else ""))
        total = messages * pairs
        delivered = sum(pair["delivered"] for pair in results)
        if floor_before:
            # The disk's speed drifts: of the two measurements around the runs, the faster one.
            floor_after = self.measure_floor(key, sessions)
            floor = {g: min(t, floor_after[g]) for g, t in floor_before.items()}
            self.ceiling(key, sessions, floor, sink_rate, labmta_rate)
            if files_cpu_s is not None:
                self.cpu_budget(key, sessions, spec["target"] * sink_rate,
                                (per_message(results, "source_cpu", total),
                                 per_message(results, "sink_cpu", total), files_cpu_s),
                                [per_message(results, "labmta_user_cpu", total),
                                 per_message(results, "labmta_system_cpu", total)])
        which = f" (median of {pairs})" if pairs > 1 else ""
        self.row(f"{key}: {spec['what']}", f"≥ {spec['target']:.2f} × sink",
                 f"{labmta_rate:,.0f} msgs/s{which}", f"{sink_rate:,.0f} msgs/s{which}",
                 f"{median['ratio']:.2f}", f"{delivered}/{total}", f"{median['done_s']:.2f} s",
                 median["ratio"] >= spec["target"], lost=delivered != total)

    def pair(self, server, key, number, run):
        """One run of smtp-source against smtp-sink, then one against labmta, to a Maildir of
        its own (bench-<key><number>); waits until labmta has delivered that run's mail."""
        messages = run["messages"]
        user = f"bench-{key.lower()}{number}"
        sink_cpu_before = sum(process_cpu_s(self.postfix.sink.pid))
        ticks_before = steal_and_total_ticks()
        sink_s, source_cpu = self.postfix.source(
            self.postfix.sink_port, recipient=f"{user}@{DOMAIN}", **run)
        ticks_between = steal_and_total_ticks()
        sink_cpu = sum(process_cpu_s(self.postfix.sink.pid)) - sink_cpu_before
        start, labmta_cpu_before = time.monotonic(), process_cpu_s(server.pid)
        labmta_s, _ = self.postfix.source(server.port, recipient=f"{user}@{DOMAIN}", **run)
        ticks_after = steal_and_total_ticks()
        # smtp-source exits non-zero on any error reply, so all were accepted (250).
        delivered = server.wait_delivered(user, messages, timeout_s=60 + messages * 0.02)
        done_s = time.monotonic() - start
        labmta_user, labmta_system = process_cpu_s(server.pid)
        if delivered != messages:
            self.notes.append(f"{key}, pair {number}: {delivered} of {messages} accepted "
                              f"messages delivered after {done_s:.1f} s; queue empty: "
                              f"{server.queue_empty()}")
        return dict(labmta_rate=messages / labmta_s, sink_rate=messages / sink_s,
                    ratio=sink_s / labmta_s, delivered=delivered, done_s=done_s,
                    sink_steal=steal_share(ticks_before, ticks_between),
                    labmta_steal=steal_share(ticks_between, ticks_after),
                    source_cpu=source_cpu, sink_cpu=sink_cpu,
                    labmta_user_cpu=labmta_user - labmta_cpu_before[0],
                    labmta_system_cpu=labmta_system - labmta_cpu_before[1])

    def run_commit_floor(self, key, group, count, deliver=False):
        """bench/commit_floor's figures ({name: float}) for the commit protocol's system calls
        alone, and with deliver the local delivery's too, on the bench spool's file system."""
        folder = self.workdir / f"floor-{key.lower()}-{group}{'-deliver' if deliver else ''}"
        command = [str(self.floor), str(folder), str(count), str(group)]
        output = subprocess.run(command + (["deliver"] if deliver else []),
                                capture_output=True, text=True, timeout=300)
        if output.returncode != 0:
            raise BenchError(f"commit_floor failed: {output.stderr.strip()}")
        return {name: float(value)
                for name, value in (item.split("=", 1) for item in output.stdout.split())}

    def commit_floor_s(self, key, group, count):
        """Seconds per group of the commit protocol alone, measured now."""
        return self.run_commit_floor(key, group, count)["us_per_group"] / 1e6

    def measure_floor(self, key, sessions):
        """{group size: seconds per group} from bench/commit_floor for a scenario with a
        ceiling: lone commits for one session, else groups of half and all the sessions.
        Empty when the scenario has none or the program was not built."""
        if key not in CEILING:
            return {}
        if not self.floor.exists():
            self.notes.append(f"{key}: ceiling not computed: {self.floor} was not built")
            return {}
        count = 50 if self.options.smoke else CEILING[key]
        groups = [1] if sessions == 1 else [sessions // 2, sessions]
        return {g: self.commit_floor_s(key, g, max(count, 2 * g)) for g in groups}

    def ceiling(self, key, sessions, floor, sink_rate, labmta_rate):
        """A bound for a throughput scenario on this disk around this run (bench/README.md,
        "Ceilings"): each session needs smtp-sink's time per message for the dialog plus its
        group's commit time, and one group is committed at a time."""
        protocol_s = sessions / sink_rate  # per message, per session, with no disk at all
        if sessions == 1:
            per_group = floor
            described = f"{floor[1] * 1e6:.0f} µs per lone commit"
        else:
            half, full = sessions // 2, sessions
            per_file = (floor[full] - floor[half]) / (full - half)
            fixed = max(floor[half] - per_file * half, 0.0)
            per_group = {g: fixed + per_file * g for g in range(2, sessions + 1)}
            described = (f"{floor[half] * 1e6:.0f} µs per group of {half}, "
                         f"{floor[full] * 1e6:.0f} µs per group of {full}")
        bound = max(min(g / t, sessions / (protocol_s + t)) for g, t in per_group.items())
        share = labmta_rate / bound
        caveat = ("; more than 100 %: the disk was slower while the floor was measured, so "
                  "this run's ceiling is no bound") if share > 1 else ""
        self.notes.append(
            f"{key}: ceiling {bound:,.0f} msgs/s = {bound / sink_rate:.2f} × sink, from the "
            f"disk's commit floor ({described}, the faster of before and after the run) and "
            f"smtp-sink's {protocol_s * 1e6:.0f} µs per message per session; labmta reached "
            f"{share:.0%} of it{caveat}")

    def files_cpu_s(self, key, sessions):
        """CPU seconds per message of the commit's and local delivery's system calls alone
        (commit_floor ... deliver, groups of `sessions`), measured on an otherwise idle
        machine: the whole machine's time, since the kernel's writeback threads write the
        files that syncfs makes durable."""
        os.sync()  # nothing of earlier work left to write back meanwhile
        count = 50 if self.options.smoke else CEILING[key]
        return self.run_commit_floor(key, sessions, count, deliver=True)[
            "machine_cpu_us_per_message"] / 1e6

    def cpu_budget(self, key, sessions, target_rate, least_parts_s, labmta_s):
        """The CPU time a message needs at least, against what the machine has at the
        target rate (bench/README.md, "CPU for B"). least_parts_s: smtp-source's seconds per
        message, a dialog no dearer than smtp-sink's, and the commit's and delivery's system
        calls alone; labmta_s: labmta's user and system seconds per message in this run."""
        source_s, sink_s, files_s = least_parts_s
        least_s = source_s + sink_s + files_s
        cpus = os.cpu_count() or 1
        self.notes.append(
            f"{key}: CPU at the target rate ({target_rate:,.0f} msgs/s): smtp-source "
            f"{source_s * 1e6:.0f} µs per message, a dialog as cheap as smtp-sink's "
            f"{sink_s * 1e6:.0f} µs, the commit's and delivery's system calls alone "
            f"{files_s * 1e6:.0f} µs (commit_floor, groups of {sessions}, deliver, writeback "
            f"included): {least_s * 1e6:.0f} µs, or {least_s * target_rate:.2f} of the "
            f"machine's {cpus} CPUs before any work of labmta's own; labmta used "
            f"{sum(labmta_s) * 1e6:.0f} µs per message in this run, {labmta_s[0] * 1e6:.0f} "
            f"of them in user space, delivery included"
            + ("; with --smoke's few messages and CPU time counted in 10 ms ticks, these "
               "figures mean nothing" if self.options.smoke else ""))

    def idle(self):
        count = IDLE["smoke"] if self.options.smoke else IDLE["connections"]
        print(f"E: {count} idle connections", flush=True)
        server = self.server("idle")
        before_kb = status_kb(server.pid, "VmRSS")
        sockets, greeted, failed = idle_connections.open_idle(
            "127.0.0.1", server.port, count, IDLE["greeting_s"])
        try:
            during_kb = status_kb(server.pid, "VmRSS")
        finally:
            for sock in sockets:
                sock.close()
        per_connection = (during_kb - before_kb) * 1024 / max(greeted, 1)
        emfile = server.log_count("too many open files") + server.log_count("EMFILE")
        if emfile:
            self.notes.append(f"E: the server logged {emfile} EMFILE (open-file limit) errors")
        if failed:
            self.notes.append(f"E: {failed} connections refused, closed or not greeted with 220")
        self.notes.append(f"E: server VmRSS {before_kb} kB before, {during_kb} kB with "
                          f"{greeted} connections")
        self.stop_server(server)
        ok = greeted == count and per_connection <= IDLE["max_bytes_per_connection"]
        self.row(f"E: {count:,} idle connections", "all greeted in 5 s, ≤ 4 KB RSS each",
                 f"{greeted:,} greeted, {per_connection:,.0f} B/conn", "–", "–", "–", "–", ok)

    def big_message(self):
        size = BIG["smoke"] if self.options.smoke else BIG["size"]
        print(f"F: one {size // (1024 * 1024)} MB message", flush=True)
        server = self.server("big", limits={"message_size": size + 10 * 1024 * 1024})
        before_kb = status_kb(server.pid, "VmRSS")
        # Resets VmHWM (peak RSS) to the current RSS, so VmHWM afterwards is this message's peak.
        Path(f"/proc/{server.pid}/clear_refs").write_text("5")
        start = time.monotonic()
        reply = send_big_message(server.port, size, f"bench-f@{DOMAIN}")
        if not reply.startswith("250"):
            raise BenchError(f"F: the big message was refused: {reply}")
        delivered = server.wait_delivered("bench-f", 1, timeout_s=120)
        done_s = time.monotonic() - start
        growth_kb = status_kb(server.pid, "VmHWM") - before_kb
        self.stop_server(server)
        self.row(f"F: one {size // (1024 * 1024)} MB message", "≤ 2 MB peak RSS growth",
                 f"{growth_kb / 1024:.1f} MB peak growth", "–", "–", f"{delivered}/1",
                 f"{done_s:.2f} s", growth_kb <= BIG["max_growth_kb"], lost=delivered != 1)

    def callgrind(self):
        if not shutil.which("valgrind"):
            self.notes.append("callgrind: skipped, valgrind is not installed")
            return
        print("CG: instructions per message (callgrind, scenario A shape)", flush=True)
        totals = {}
        for messages in (CALLGRIND["baseline"], CALLGRIND["messages"]):
            out = self.workdir / f"callgrind.{messages}.out"
            # valgrind writes it at exit, after labmta dropped root: make it the user's.
            out.touch()
            if RUN_AS:
                nobody = pwd.getpwnam(RUN_AS[1])
                os.chown(out, nobody.pw_uid, nobody.pw_gid)
            # All threads (loop and libuv's pool) go into one file; children are not traced.
            server = self.server(f"callgrind-{messages}", ready_timeout_s=120, wrapper=[
                "valgrind", "--tool=callgrind", "--trace-children=no",
                f"--callgrind-out-file={out}"])
            self.postfix.source(server.port, sessions=1, messages=messages, size=1024,
                                reuse=True, recipient=f"bench-cg@{DOMAIN}", timeout_s=600)
            if server.wait_delivered("bench-cg", messages, timeout_s=300) != messages:
                raise BenchError(f"callgrind: not all {messages} messages delivered")
            self.stop_server(server, timeout_s=120)
            totals[messages] = callgrind_total(out)
        low, high = CALLGRIND["baseline"], CALLGRIND["messages"]
        per_message = (totals[high] - totals[low]) / (high - low)
        self.notes.append(f"callgrind: {totals[low]:,} Ir with {low} messages, "
                          f"{totals[high]:,} Ir with {high}: {per_message:,.0f} instructions "
                          "per message (receive, commit, deliver; user space only)")
        # Kept for `callgrind_annotate build-bench/callgrind.out | head -40`.
        shutil.copyfile(self.workdir / f"callgrind.{high}.out", REPO / "build-bench/callgrind.out")
        self.row("CG: instructions/message", "–", f"{per_message:,.0f} Ir/msg", "–", "–", "–",
                 "–", None)

    def run(self, selected):
        throughput = [key for key in selected if key in THROUGHPUT]
        if throughput:
            self.postfix.start_sink(self.workdir / "smtp-sink.log")
            server = self.server("throughput")
            for key in throughput:
                self.throughput(server, key)
            self.stop_server(server)
        if "E" in selected:
            self.idle()
        if "F" in selected:
            self.big_message()
        if "CG" in selected and not self.options.smoke:
            self.callgrind()

    def stop_all(self):
        self.postfix.stop()
        for server in self.servers:
            server.stop(timeout_s=20)


def send_big_message(port, size, recipient):
    """Sends one message of about `size` bytes over a raw socket (streamed, so the client
    stays small); returns the server's reply to the end of data."""
    line = b"X" * 998 + b"\r\n"  # longest line RFC 5321 allows; never starts with a dot
    block = line * 64
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        reader = sock.makefile("rb")

        def command(text, expect):
            if text:
                sock.sendall(text.encode() + b"\r\n")
            while True:
                reply = reader.readline().decode(errors="replace")
                if reply[3:4] != "-":
                    break
            if not reply.startswith(expect):
                raise BenchError(f"F: {text or 'greeting'}: {reply.strip()}")
            return reply

        command("", "220")
        command("EHLO bench.example", "250")
        command("MAIL FROM:<bench@example.org>", "250")
        command(f"RCPT TO:<{recipient}>", "250")
        command("DATA", "354")
        sock.sendall(b"Subject: big\r\n\r\n")
        for _ in range(size // len(block)):
            sock.sendall(block)
        sock.sendall(b".\r\n")
        reply = reader.readline().decode(errors="replace").strip()
        command("QUIT", "221")
        return reply


def callgrind_total(path):
    """The total Ir of a callgrind output file (its 'totals:' or 'summary:' line)."""
    for line in reversed(path.read_text(errors="replace").splitlines()):
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise BenchError(f"no totals in {path}")


def machine_info(spool_dir):
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    # findmnt names ext4 as ext4 (stat -f says "ext2/ext3").
    fs = subprocess.run(["findmnt", "-n", "-o", "FSTYPE,SOURCE", "-T", str(spool_dir)],
                        capture_output=True, text=True).stdout.strip() or "unknown"
    commit = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    return [f"date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
            f"labmta source {commit}",
            f"machine: {os.cpu_count()} CPUs ({cpu}), kernel {platform.release()}, "
            f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at start",
            f"spool filesystem: {fs}"]


def markdown_table(rows):
    header = ["scenario", "target", "labmta", "smtp-sink", "ratio", "delivered/accepted",
              "delivery done", "result"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(path, mode, info, table, notes):
    text = ["# Benchmark results", "",
            "Produced by `bench/run.sh --write-results` (see bench/README.md). The machine is",
            "shared, so numbers vary between runs by tens of percent.", "",
            *[f"{line}  " for line in [f"mode: {mode}", *info]], "", table, ""]
    if notes:
        text += ["Notes:", "", *[f"- {note}" for note in notes], ""]
    path.write_text("\n".join(text))


# ext4 without a journal skips inodes freed in the last 5 minutes when it creates a file
# (recently_deleted in fs/ext4/ialloc.c), scanning past each one: right after a run deleted its
# ~25,000 files, creating files near them costs several times more (bench/README.md).
CLEANUP_SETTLE_S = 305


# Fewer deleted files than this (a smoke run, --only C) slow the next run too little to wait.
CLEANUP_SETTLE_FILES = 5000


def wait_after_last_cleanup(stamp):
    """Waits until the previous run's deletions are CLEANUP_SETTLE_S old, if there were many."""
    try:
        age = time.time() - stamp.stat().st_mtime
        deleted = int(stamp.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return
    if deleted >= CLEANUP_SETTLE_FILES and 0 <= age < CLEANUP_SETTLE_S:
        wait_s = CLEANUP_SETTLE_S - age
        print(f"bench: the previous run deleted {deleted:,} files {age:.0f} s ago; waiting "
              f"{wait_s:.0f} s "
              "so that file creation is not slowed by them (see bench/README.md)", flush=True)
        time.sleep(wait_s)


def remove_workdir(workdir, stamp):
    """Deletes a run's files and records how many in stamp for wait_after_last_cleanup,
    together with those of a previous run whose clean-up is still recent."""
    deleted = sum(len(files) for _, _, files in os.walk(workdir))
    shutil.rmtree(workdir, ignore_errors=True)
    try:
        if time.time() - stamp.stat().st_mtime < CLEANUP_SETTLE_S:
            deleted += int(stamp.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        pass
    stamp.write_text(f"{deleted}\n")


# ext4's recentcy for a freed inode whose inode-table block is clean (RECENTCY_MIN), plus a
# margin.
RECENT_INODE_S = 6


def settle_disk():
    """Lets the inodes that the previous scenario freed (delivered queue files, commit_floor's
    files) stop counting as recently deleted: sync writes their inode-table blocks, after
    which ext4 skips them for 5 s instead of 305 s (see CLEANUP_SETTLE_S)."""
    os.sync()
    time.sleep(RECENT_INODE_S)


def parse_options():
    parser = argparse.ArgumentParser(description="labmta benchmark (see bench/README.md)")
    parser.add_argument("--tools", required=True, help="unpacked postfix package (run.sh)")
    parser.add_argument("--labmta", required=True, help="labmta binary")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny counts, no callgrind; fails only on loss or tool errors")
    parser.add_argument("--only", default=",".join(ALL),
                        help="comma-separated scenarios: A,B,C,D,E,F,CG (default: all)")
    parser.add_argument("--write-results", action="store_true", help="write bench/RESULTS.md")
    options = parser.parse_args()
    options.labmta = Path(options.labmta).resolve()
    selected = [key.strip().upper() for key in options.only.split(",") if key.strip()]
    unknown = [key for key in selected if key not in ALL]
    if unknown:
        parser.error(f"unknown scenario {','.join(unknown)}; choose from {','.join(ALL)}")
    return options, selected


def main():
    options, selected = parse_options()
    # Scenario E needs ~10,000 fds in the server and in the load script; both inherit this.
    limit = idle_connections.raise_fd_limit()
    if "E" in selected and not options.smoke and limit < IDLE["connections"] + 200:
        print(f"warning: open-file limit {limit} is too low for scenario E", file=sys.stderr)
    # SIGTERM (e.g. from CI) unwinds like Ctrl-C, so the finally below stops every process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    base = REPO / "build-bench"
    base.mkdir(exist_ok=True)
    if not options.smoke:
        wait_after_last_cleanup(base / "last-cleanup")
    # Under build-bench/, not /tmp: the spool must be on a real disk (fsync), not a tmpfs.
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=base))
    workdir.chmod(0o755)
    bench = Bench(options, workdir)
    info = machine_info(workdir)
    print("\n".join(info), flush=True)
    failure = None
    try:
        bench.run(selected)
    except (BenchError, subprocess.TimeoutExpired) as error:
        failure = str(error)
    except BaseException:  # Ctrl-C or SIGTERM: stop everything, leave nothing behind
        bench.stop_all()
        remove_workdir(workdir, base / "last-cleanup")
        raise
    bench.stop_all()
    table = markdown_table(bench.rows)
    mode = "smoke (tiny counts; timings not judged)" if options.smoke else "full"
    print(f"\n{table}\n")
    for note in bench.notes:
        print(f"note: {note}")
    if options.write_results:
        write_results(REPO / "bench" / "RESULTS.md", mode, info, table, bench.notes)
    if failure or bench.lost:
        print(f"\nbench: FAILED: {failure or 'messages were lost'}", file=sys.stderr)
        for server in bench.servers:
            print(f"---- {server.log_path} (tail) ----\n{server.log_tail()}", file=sys.stderr)
        print(f"work directory kept: {workdir}", file=sys.stderr)
        return 1
    remove_workdir(workdir, base / "last-cleanup")
    if bench.missed:
        print("bench: some targets missed (see the table)")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
