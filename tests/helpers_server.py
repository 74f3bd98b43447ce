"""Running real ``kefu`` processes for tests that cross process boundaries."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class KefuProcess:
    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = cwd / f"kefu-{port}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kefu.cli", *args, "--port", str(port)],
            env={**os.environ, **env},
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, timeout: float = 60) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kefu exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                resp = httpx.get(f"{self.base}/healthz", timeout=2)
                if resp.status_code == 200:
                    return resp.json()  # type: ignore[no-any-return]
                last = resp.text
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.2)
        raise TimeoutError(f"kefu on {self.port} not healthy after {timeout}s ({last}):\n{self.tail()}")

    def output(self) -> str:
        """Everything the process printed so far (its whole log: banners come first, access logs after)."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def tail(self, chars: int = 4000) -> str:
        return self.output()[-chars:]

    def children(self) -> list[int]:
        """The pids of the server's own child processes (its message writer), from /proc."""
        return [pid for pid, parent in _processes() if parent == self.proc.pid]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _processes() -> list[tuple[int, int]]:
    """(pid, parent pid) of every live process (zombies left out), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")"
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            found.append((int(entry.name), int(ppid)))
    return found


def wait_gone(pids: list[int], timeout: float) -> None:
    """Return once none of ``pids`` is alive (an exited process that nobody reaped counts as gone)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = set(pids) & {pid for pid, _ in _processes()}
        if not alive:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"processes {sorted(alive)} still alive after {timeout}s")
        time.sleep(0.05)
