"""llama.cpp's ``llama-server`` as a benchmark arm (``bench_generate.py --side-by-side``).

One server process per configuration on a free local port; the prompts are posted to its
``/completion`` endpoint all at once (one thread each), so its ``-np`` slots and
continuous batching decide how they are batched, as a real client load would. Figures:
generated tokens per wall second from the first post to the last answer, and the
server's peak RSS (``VmHWM``) read from /proc before it is stopped.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CTX_PER_SLOT = 512  # tokens of KV cache per slot: a rendered prompt (~100-300 tokens) plus its budget


def default_binary() -> Path:
    """Where scripts/build_llama_server.sh puts the binary."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    home = os.environ.get("STYLEGEN_HOME") or cache / "stylegen"
    return Path(home) / "llama-server" / "bin" / "llama-server"


def find_llama_server(path: str | None = None) -> Path | None:
    """The llama-server binary to run (``path``, else the build script's), or None when absent."""
    binary = Path(path) if path else default_binary()
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """One ``llama-server -t THREADS -np SLOTS -cb`` on the GGUF, started by :meth:`run`."""

    def __init__(self, binary: Path, gguf: Path, threads: int, slots: int, new_tokens: int):
        self.port = _free_port()
        self.slots = slots
        self.command = [str(binary), "-m", str(gguf), "-t", str(threads), "-tb", str(threads), "-np", str(slots),
                        "-cb", "-c", str(slots * max(CTX_PER_SLOT, new_tokens * 2)), "--host", "127.0.0.1",
                        "--port", str(self.port)]

    def _post(self, path: str, body: dict | None = None, timeout: float = 600) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def _wait_ready(self, proc, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with {proc.returncode}: {' '.join(self.command)}")
            try:
                if self._post("/health", timeout=2).get("status") == "ok":
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"llama-server did not become ready in {seconds:.0f} s")

    def run(self, prompts: list[str], new_tokens: int, top_k: int = 40) -> dict:
        """Generate ``new_tokens`` for every prompt (sampling as stylegen's benchmark: temperature
        0.7, top_p 0.9, repetition penalty 1.1, one seed per prompt); the figures."""
        with tempfile.TemporaryFile() as log:
            proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
            return self._measure(proc, prompts, new_tokens, top_k)

    def _measure(self, proc, prompts: list[str], new_tokens: int, top_k: int) -> dict:
        try:
            self._wait_ready(proc)
            body = {"n_predict": new_tokens, "ignore_eos": True, "temperature": 0.7, "top_p": 0.9, "top_k": top_k,
                    "repeat_penalty": 1.1, "cache_prompt": True}
            self._post("/completion", {**body, "prompt": prompts[0], "n_predict": 4, "seed": 0})  # warm-up
            started, cpu = time.perf_counter(), _cpu_seconds(proc.pid)
            with ThreadPoolExecutor(len(prompts)) as pool:
                answers = list(pool.map(lambda ip: self._post("/completion", {**body, "prompt": ip[1], "seed": ip[0]}),
                                        enumerate(prompts)))
            seconds, cpu = time.perf_counter() - started, _cpu_seconds(proc.pid) - cpu
            peak = _peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        tokens = sum(int(a.get("tokens_predicted", 0)) for a in answers)
        return {"tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
                "cpu_seconds": round(cpu, 2), "tokens_per_cpu_s": round(tokens / max(cpu, 1e-9), 1),
                "peak_rss_mb": peak, "command": " ".join(Path(c).name if "/" in c else c for c in self.command),
                "sample": answers[0].get("content", "")[:200]}


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a live process has used, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> int:
    """A live process's peak resident set (``VmHWM``), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) // 1024
