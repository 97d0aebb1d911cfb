"""One fresh kernel per submission, started (in its sandbox and limits) before it is needed.

nbval starts a kernel when it sets up a notebook; the grader instead hands it a kernel that was
started while the previous submission ran, so a submission no longer waits for Python and
ipykernel to start. Every kernel serves exactly one submission and is then killed with all it
started: nothing a student's code did in it reaches a classmate.

The grader talks to the kernel over ZeroMQ ``ipc`` sockets (Unix sockets in the kernel's own
folder), which work across the sandbox's network namespace where TCP on 127.0.0.1 would not. The
kernel is interrupted by message (ipykernel raises ``KeyboardInterrupt`` in itself), because a
signal sent to ``bwrap`` would not reach it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from nbval.kernel import RunningKernel

from course_tools.grading.confine import Confinement, remove_tree
from course_tools.grading.sandbox import Sandbox

#: The kernel's environment, in the sandbox or not: no plotting window, one BLAS thread.
RUN_ENV = {
    "MPLBACKEND": "Agg",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}
KERNEL_NAME = "course-grading"


class _Specs(KernelSpecManager):
    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="Python 3 (grading)",
            language="python",
            interrupt_mode="message",
            resource_dir="",
        )


class _Manager(KernelManager):
    """A kernel manager whose command runs behind ``prefix`` (limits, then the sandbox)."""

    prefix: list[str] = []

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return [*self.prefix, *super().format_kernel_cmd(extra_arguments)]


class GradingKernel:
    """A started kernel, its folder and its limits; :meth:`connect` hands it to nbval."""

    def __init__(
        self, box: Sandbox | None, memory_mb: int, processes: int, file_mb: int, env: Mapping[str, str] | None = None
    ):
        kernel_env = {**RUN_ENV, **(env or {})}  # the grader's variables for this run (probe prefix, seed)
        self.box = box
        self.folder = Path(tempfile.mkdtemp(prefix=f"course-grade-{os.getpid()}-kernel-"))
        self.confinement = Confinement(memory_mb, processes, file_mb)
        self.manager = _Manager(
            kernel_name=KERNEL_NAME,
            kernel_spec_manager=_Specs(),
            transport="ipc",
            ip=str(self.folder / "kernel"),
            connection_file=str(self.folder / "kernel.json"),
        )
        command_prefix = self.confinement.prefix()
        if box is not None:  # bwrap itself gets only PATH; the kernel gets kernel_env (and the sandbox's own)
            launch_env = {"PATH": os.environ.get("PATH", os.defpath)}
            self.manager.prefix = [*command_prefix, *box.command([], self.folder, kernel_env)]
        else:  # today's protections only: a fresh folder, limits; the kernel sees what the grader sees
            launch_env = {**os.environ, **kernel_env}
            self.manager.prefix = command_prefix
        self.manager.start_kernel(
            cwd=str(self.folder),
            env=launch_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def connect(self, startup_timeout: float) -> RunningKernel:
        """The kernel as nbval's ``RunningKernel``, once it answers; its folder then read-only."""
        kernel = RunningKernel.__new__(RunningKernel)
        kernel.km = self.manager
        kernel.kc = self.manager.client()
        kernel.kc.start_channels()
        try:
            kernel.kc.wait_for_ready(timeout=startup_timeout)
            kernel._ensure_iopub_up()
        except BaseException:
            kernel.kc.stop_channels()
            raise
        if self.box is not None:  # its sockets exist: from now on it can create no file there
            os.chmod(self.folder, 0o555)
        return kernel

    def kill(self) -> None:
        """End the kernel and everything it started, at once (the submission is over or out of time)."""
        provisioner = self.manager.provisioner
        process = getattr(provisioner, "process", None) if provisioner else None
        if process is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the launcher made bwrap its group leader
            except (ProcessLookupError, PermissionError):
                pass
        self.confinement.kill()

    def close(self) -> None:
        """Kill, reap, and delete the kernel's folder and control groups."""
        self.kill()
        try:
            self.manager.shutdown_kernel(now=True)
        except Exception:  # already dead, or never started: nothing left to stop
            pass
        self.manager.cleanup_resources()
        self.confinement.remove()
        remove_tree(self.folder)
