"""A real single-node SLURM cluster in a temporary directory, for tests and ``make slurm-up``.

Starts munged (as user ``munge``, on a private socket), slurmctld and slurmd in the foreground
as child processes, so each daemon is stopped by its own pid and nothing system-wide is touched:
no systemd, no /etc/slurm, no system munge socket. Clients find the cluster through the
``SLURM_CONF`` environment variable (:attr:`SlurmCluster.env`).

Run as a script to keep a cluster up for manual trials::

    python tests/slurm_cluster.py up /tmp/spillover-slurm     # prints: export SLURM_CONF=...
    python tests/slurm_cluster.py down /tmp/spillover-slurm

Needs root (slurmd and munged as another user) and the Debian packages slurm-wlm and munge.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "sinfo", "scontrol")
MUNGE_KEY = Path("/etc/munge/munge.key")


def missing_binaries() -> list[str]:
    """SLURM and munge programs not found on PATH (plus /usr/sbin)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return [b for b in (*DAEMONS, *CLIENTS) if shutil.which(b, path=path) is None]


def _which(name: str) -> str:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    found = shutil.which(name, path=path)
    if found is None:
        raise RuntimeError(f"{name} not found; install the Debian packages slurm-wlm and munge")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _real_memory_mb() -> int:
    with open("/proc/meminfo") as fh:
        total_kb = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
    return max(256, int(total_kb / 1024 * 0.8))


class SlurmCluster:
    """munged + slurmctld + slurmd for one node (this host, 2 CPUs by default).

    Parameters
    ----------
    root
        Directory for config, state, spool, logs and the munge socket; created if missing.
        Must be traversable by user ``munge`` (a fresh ``tempfile.mkdtemp`` is, after chmod).
    cpus
        CPUs of the node (never more than the machine has).
    """

    def __init__(self, root: str | Path | None = None, cpus: int = 2) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="spillover-slurm-")).resolve()
        self.cpus = max(1, min(cpus, os.cpu_count() or 1))
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.root / "slurm.conf"
        self.procs: dict[str, subprocess.Popen] = {}

    @property
    def env(self) -> dict[str, str]:
        """Environment additions that point SLURM clients at this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def _munge_dir(self) -> Path:
        return self.root / "munge"

    def _write_config(self) -> None:
        for sub in ("state", "spool", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        ctld_port, slurmd_port = _free_port(), _free_port()
        self.conf.write_text(
            "\n".join(
                [
                    "# Written by tests/slurm_cluster.py: one node, root runs everything.",
                    "ClusterName=spillover",
                    f"SlurmctldHost={self.host}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    f"SlurmctldPort={ctld_port}",
                    f"SlurmdPort={slurmd_port}",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    f"AuthInfo=socket={self._munge_dir() / 'munge.socket'}",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core",
                    "SchedulerType=sched/builtin",
                    "MpiDefault=none",
                    "ReturnToService=2",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "JobCompType=jobcomp/none",
                    f"StateSaveLocation={self.root / 'state'}",
                    f"SlurmdSpoolDir={self.root / 'spool'}",
                    f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
                    f"SlurmdPidFile={self.root / 'slurmd.pid'}",
                    f"SlurmctldLogFile={self.root / 'log' / 'slurmctld.log'}",
                    f"SlurmdLogFile={self.root / 'log' / 'slurmd.log'}",
                    "SlurmctldTimeout=30",
                    "SlurmdTimeout=30",
                    "InactiveLimit=0",
                    "MinJobAge=300",
                    "KillWait=5",
                    f"NodeName={self.host} CPUs={self.cpus} RealMemory={_real_memory_mb()} State=UNKNOWN",
                    "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )

    def _start_munge(self) -> None:
        munge = pwd.getpwnam("munge")
        d = self._munge_dir()
        d.mkdir(parents=True, exist_ok=True)
        os.chown(d, munge.pw_uid, munge.pw_gid)
        os.chmod(d, 0o755)  # munged wants the socket directory searchable by all
        key = MUNGE_KEY
        if not key.is_file():  # the package normally creates it; make a private one otherwise
            key = d / "munge.key"
            subprocess.run([_which("mungekey"), "--create", f"--keyfile={key}"], check=True, user=munge.pw_uid)
        self.procs["munged"] = subprocess.Popen(
            [
                _which("munged"), "--foreground", f"--socket={d / 'munge.socket'}", f"--key-file={key}",
                f"--pid-file={d / 'munged.pid'}", f"--log-file={d / 'munged.log'}", f"--seed-file={d / 'munged.seed'}",
                "--num-threads=2",
            ],
            user=munge.pw_uid,
            group=munge.pw_gid,
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "log" / "munged.out", "w"),
        )
        self._wait(lambda: (d / "munge.socket").exists(), "munged socket", "munged")

    def _start(self, name: str, *args: str) -> None:
        self.procs[name] = subprocess.Popen(
            [_which(name), "-D", "-f", str(self.conf), *args],
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "log" / f"{name}.out", "w"),
            env={**os.environ, **self.env},
        )

    def _wait(self, ready, what: str, daemon: str, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if ready():
                return
            proc = self.procs.get(daemon)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{daemon} exited with {proc.returncode}: {self.log_tail(daemon)}")
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}: {self.log_tail(daemon)}")

    def _node_idle(self) -> bool:
        out = self.run("sinfo", "-h", "-N", "-o", "%T", check=False).stdout.strip()
        return out.split("\n")[0].rstrip("*") == "idle" if out else False

    def start(self) -> SlurmCluster:
        """Start munged, slurmctld and slurmd; return once ``sinfo`` shows the node idle."""
        missing = missing_binaries()
        if missing:
            raise RuntimeError(f"missing {', '.join(missing)}; install the Debian packages slurm-wlm and munge")
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        self._write_config()
        try:
            self._start_munge()
            self._start("slurmctld", "-c", "-i")
            self._wait(lambda: self.run("scontrol", "ping", check=False).stdout.count("UP") > 0, "slurmctld", "slurmctld")
            self._start("slurmd")
            self._wait(self._node_idle, "node idle in sinfo", "slurmd", timeout=60)
        except BaseException:
            self.stop()
            raise
        return self

    def run(self, *argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a SLURM client command against this cluster."""
        return subprocess.run(
            [_which(argv[0]), *argv[1:]], capture_output=True, text=True, check=check, timeout=timeout,
            env={**os.environ, **self.env},
        )

    def queue_empty(self) -> bool:
        """No job pending or running."""
        return self.run("squeue", "-h", "-o", "%i").stdout.strip() == ""

    def wait_until_empty(self, timeout: float) -> bool:
        """Wait (bounded) until the queue is empty; True if it emptied in time."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.queue_empty():
                return True
            time.sleep(1.0)
        return False

    def log_tail(self, daemon: str, n: int = 2000) -> str:
        """The end of a daemon's log, for error messages."""
        texts = []
        for path in (self.root / "log" / f"{daemon}.log", self.root / "log" / f"{daemon}.out", self._munge_dir() / "munged.log"):
            if path.name.startswith(daemon) and path.is_file():
                texts.append(path.read_text(errors="replace")[-n:])
        return "\n".join(texts)

    def stop(self) -> None:
        """Cancel this cluster's jobs, then stop every daemon it started, by pid, slurmd first."""
        if self.procs.get("slurmctld") is not None and self.procs["slurmctld"].poll() is None:
            try:
                ids = self.run("squeue", "-h", "-o", "%i", check=False).stdout.split()
                if ids:
                    self.run("scancel", *ids, check=False)
                    self.wait_until_empty(timeout=30)
            except (OSError, subprocess.SubprocessError):
                pass
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _main(argv: list[str]) -> int:
    """``up DIR`` starts a cluster and stays in the foreground until SIGTERM/SIGINT; ``down DIR`` stops it."""
    if len(argv) != 2 or argv[0] not in ("up", "down"):
        print("usage: slurm_cluster.py up|down DIR", file=sys.stderr)
        return 2
    action, root = argv[0], Path(argv[1]).resolve()
    pidfile = root / "cluster.pid"
    if action == "down":
        if not pidfile.is_file():
            print(f"no cluster running from {root}", file=sys.stderr)
            return 1
        os.kill(int(pidfile.read_text()), signal.SIGTERM)
        return 0
    cluster = SlurmCluster(root)
    cluster.start()
    pidfile.write_text(str(os.getpid()))
    print(f"export SLURM_CONF={cluster.conf}", flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    try:
        while not stop:
            time.sleep(0.5)
    finally:
        cluster.stop()
        pidfile.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
