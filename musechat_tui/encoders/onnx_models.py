"""Models run with ONNX Runtime: sessions, and graphs exported once from PyTorch.

The packaged EfficientNet-Lite0 and MiniLM weights are PyTorch state dicts, and importing
torch (2 s) and transformers (1 s) alone costs more than the first answer may take on a
2-core machine. So each model is exported to ONNX the first time it is needed (torch is
imported then, once), optimised by ONNX Runtime's basic level (constant folding, batch
norm folded into the convolutions: portable across CPUs, unlike the extended level) and
kept in the user's cache folder under a name that hashes the source files' identity and
EXPORT_VERSION: a changed package or export code exports again. Later runs load the graph
without torch. Writing goes through a temp file, so a crash never leaves half a model.
"""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from musechat_tui.config import user_cache_dir
from musechat_tui.disk_cache import code_key
from musechat_tui.errors import ModelLoadError

EXPORT_VERSION = 1


def ort_session(path: Path, threads: int | None, *, optimize_to: Path | None = None) -> Any:
    """A CPU InferenceSession with `threads` intra-op threads (one inter-op thread: these
    graphs are sequential). `optimize_to`: also save the optimised graph there."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    # Idle pool threads sleep instead of spinning: these models share two cores with the
    # decoder, each other and the UI (the app's first answer: 4.15 -> 3.88 s median).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3  # errors only; onnxruntime warns about unused initialisers
    if optimize_to is not None:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        opts.optimized_model_filepath = str(optimize_to)
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def source_key(sources: Sequence[Path]) -> str:
    """Identity of what a graph is exported from: the source files (disk_cache.code_key)
    and the exporting and running libraries' versions."""
    versions = [str(EXPORT_VERSION)]
    for package in ("torch", "onnxruntime", "onnx", "transformers"):
        try:
            versions.append(f"{package}={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package}=-")
    return code_key(sources, versions)


_EXPORTING = threading.Lock()  # torch.onnx.export is not thread-safe; one export at a time


def onnx_session(
    name: str,
    sources: Sequence[Path],
    export: Callable[[Path], None],
    threads: int | None,
    folder: Path | None = None,
) -> tuple[Path, Any]:
    """(graph path, session) of model `name`: the cached graph, or one exported now by
    `export(path)` (which writes a plain ONNX file at `path`). A cached graph that no
    longer loads (a damaged file) is exported again, once."""
    path = exported_model(name, sources, export, folder)
    try:
        return path, ort_session(path, threads)
    except Exception:  # onnxruntime raises its own untyped errors
        path.unlink(missing_ok=True)
        path = exported_model(name, sources, export, folder)
        try:
            return path, ort_session(path, threads)
        except Exception as exc:
            raise ModelLoadError(f"{name}: the exported graph does not load ({exc})") from exc


def exported_model(
    name: str, sources: Sequence[Path], export: Callable[[Path], None], folder: Path | None = None
) -> Path:
    """The optimised ONNX graph of model `name`, exported by `export(path)` when the cache
    does not hold it for these sources. A cache folder that cannot be written (read-only
    home) falls back to the temp folder: the export is then redone per boot, never lost."""
    try:
        key = source_key(sources)
    except OSError as exc:
        raise ModelLoadError(f"{name}: cannot read the model's weights: {exc}") from exc
    folders = [folder] if folder else [user_cache_dir() / "onnx", _temp_folder()]
    with _EXPORTING:
        for where in folders:
            target = where / f"{name}-{key}.onnx"
            if target.exists():
                return target
        last: OSError | None = None
        for where in folders:
            try:
                where.mkdir(parents=True, exist_ok=True)
                return _export_to(where, name, key, export)
            except OSError as exc:  # not writable: try the next folder
                last = exc
        raise ModelLoadError(f"{name}: no folder to keep the exported model in ({last})")


def _temp_folder() -> Path:
    return Path(tempfile.gettempdir()) / f"musechat-onnx-{os.getuid()}"


def _export_to(folder: Path, name: str, key: str, export: Callable[[Path], None]) -> Path:
    target = folder / f"{name}-{key}.onnx"
    raw = folder / f".{name}.{os.getpid()}.raw.onnx"
    optimised = folder / f".{name}.{os.getpid()}.opt.onnx"
    try:
        with warnings.catch_warnings():  # the exporter's deprecation and tracer notes
            warnings.simplefilter("ignore")
            export(raw)
        ort_session(raw, 1, optimize_to=optimised)
        os.replace(optimised, target)
    except (ModelLoadError, OSError):
        raise
    except Exception as exc:  # the exporter and onnxruntime raise many untyped errors
        raise ModelLoadError(
            f"{name}: cannot export the model to ONNX ({type(exc).__name__}: {exc})"
        ) from exc
    finally:
        raw.unlink(missing_ok=True)
        optimised.unlink(missing_ok=True)
    return target
