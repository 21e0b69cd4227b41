"""The real Hugging Face clients (huggingface_hub, datasets, transformers) work against the local Hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import HfApi, HfFileSystem, hf_hub_download, snapshot_download
from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

from hub_server import LocalHub, free_port

BINARY = bytes(range(256)) * 64  # NUL bytes => uploaded through LFS


def new_repo_id(name: str) -> str:
    """A repo id that no other test uses (repos live for the whole session)."""
    return f"org/{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def _no_unhandled_routes(local_hub: LocalHub) -> Iterator[None]:
    """Fail a test whose clients called a route the local Hub does not implement."""
    local_hub.unhandled.clear()
    yield
    assert local_hub.unhandled == []


def run_offline(code: str) -> str:
    """Run `code` in a fresh interpreter with `HF_HUB_OFFLINE=1` and no reachable Hub; return its stdout."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_model_upload_and_download(tmp_path: Path) -> None:
    api = HfApi()
    repo_id = new_repo_id("m")
    assert api.create_repo(repo_id, exist_ok=True).repo_id == repo_id
    assert api.create_repo(repo_id, exist_ok=True).repo_id == repo_id  # 409 => existing repo

    first = api.upload_file(path_or_fileobj=b"version 1\n", path_in_repo="notes.txt", repo_id=repo_id)
    api.upload_file(path_or_fileobj=BINARY, path_in_repo="weights.bin", repo_id=repo_id)
    folder = tmp_path / "folder"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_text("a")
    (folder / "sub" / "deeper" / "b.json").write_text('{"b": 1}')
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + BINARY)
    api.upload_folder(folder_path=folder, repo_id=repo_id)
    second = api.upload_file(path_or_fileobj=b"version 2\n", path_in_repo="notes.txt", repo_id=repo_id)

    expected = {
        "notes.txt": b"version 2\n",
        "weights.bin": BINARY,
        "sub/a.txt": b"a",
        "sub/deeper/b.json": b'{"b": 1}',
        "image.png": b"\x89PNG\r\n\x1a\n" + BINARY,
    }
    assert sorted(api.list_repo_files(repo_id)) == sorted([".gitattributes", *expected])
    assert api.model_info(repo_id).sha == second.oid != first.oid
    lfs = {f.path: f.lfs is not None for f in api.list_repo_tree(repo_id, recursive=True) if hasattr(f, "lfs")}
    assert lfs == {".gitattributes": False, **{path: path.endswith((".bin", ".png")) for path in expected}}
    assert [f.path for f in api.list_repo_tree(repo_id, "sub")] == ["sub/a.txt", "sub/deeper"]

    for path, content in expected.items():
        assert Path(hf_hub_download(repo_id, path)).read_bytes() == content
    snapshot = Path(snapshot_download(repo_id))
    assert {path: (snapshot / path).read_bytes() for path in expected} == expected
    assert Path(hf_hub_download(repo_id, "notes.txt", revision=first.oid)).read_bytes() == b"version 1\n"
    commits = api.list_repo_commits(repo_id)
    assert [commits[0].commit_id, commits[-1].title] == [second.oid, "initial commit"]
    assert first.oid in [c.commit_id for c in commits]

    with HfFileSystem().open(f"{repo_id}/weights.bin", "rb", block_size=1000) as remote:  # Range requests
        remote.seek(5000)
        assert remote.read(3000) == BINARY[5000:8000]


def test_missing_repo_file_and_revision_raise_typed_errors() -> None:
    api = HfApi()
    repo_id = new_repo_id("errors")
    api.create_repo(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(new_repo_id("missing"), "config.json")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(new_repo_id("missing"))
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download(repo_id, "missing.json")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, ".gitattributes", revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo_id, revision="no-such-branch")


def test_account_branches_paths_info_and_delete() -> None:
    api = HfApi()
    assert api.whoami()["name"] == "user"
    repo_id = api.create_repo(f"plain-{uuid.uuid4().hex[:8]}").repo_id  # no namespace => the user's
    assert repo_id.startswith("user/")
    api.create_branch(repo_id, branch="dev")
    api.upload_file(path_or_fileobj=b"dev only", path_in_repo="dir/dev.txt", repo_id=repo_id, revision="dev")
    assert {ref.name for ref in api.list_repo_refs(repo_id).branches} == {"main", "dev"}
    assert Path(hf_hub_download(repo_id, "dir/dev.txt", revision="dev")).read_bytes() == b"dev only"
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download(repo_id, "dir/dev.txt")
    infos = api.get_paths_info(repo_id, ["dir", "dir/dev.txt", "missing.txt"], revision="dev")
    assert [(type(info).__name__, info.path) for info in infos] == [("RepoFolder", "dir"), ("RepoFile", "dir/dev.txt")]
    api.delete_repo(repo_id)
    assert not api.repo_exists(repo_id)


def test_datasets_push_to_hub_and_load_dataset(tmp_path: Path) -> None:
    import datasets
    from PIL import Image

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["fake", "real"])})
    images = [Image.new("RGB", (8, 8), color) for color in ("red", "green", "blue", "white")]
    labels = [0, 1, 1, 0]
    table = datasets.Dataset.from_dict({"image": images, "label": labels}, features=features)

    repo_id = new_repo_id("ds")
    table.push_to_hub(repo_id)
    loaded = datasets.load_dataset(repo_id, split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded.features == features
    assert list(loaded["label"]) == labels
    assert [image.tobytes() for image in loaded["image"]] == [image.tobytes() for image in images]
    streamed = datasets.load_dataset(repo_id, split="train", streaming=True)  # reads parquet with Range requests
    assert [row["label"] for row in streamed] == labels

    dict_repo_id = new_repo_id("ds-dict")
    datasets.DatasetDict({"train": table, "validation": table.select([0, 1])}).push_to_hub(dict_repo_id)
    splits = datasets.load_dataset(dict_repo_id, cache_dir=str(tmp_path / "cache"))
    assert set(splits) == {"train", "validation"}
    assert list(splits["validation"]["label"]) == labels[:2]
    assert splits["train"].features["label"].names == ["fake", "real"]

    stdout = run_offline(
        f"""
        import datasets
        ds = datasets.load_dataset({repo_id!r}, split="train", cache_dir={str(tmp_path / "cache")!r})
        print(list(ds["label"]))
        """
    )
    assert stdout.strip() == str(labels)


def test_space_files_and_variables() -> None:
    api = HfApi()
    repo_id = new_repo_id("sp")
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio")
    api.upload_file(path_or_fileobj=b"import gradio\n", path_in_repo="app.py", repo_id=repo_id, repo_type="space")
    assert Path(hf_hub_download(repo_id, "app.py", repo_type="space")).read_bytes() == b"import gradio\n"
    assert api.space_info(repo_id).sdk == "gradio"

    api.add_space_variable(repo_id, "MODEL_REPO", "org/m")
    assert {k: v.value for k, v in api.get_space_variables(repo_id).items()} == {"MODEL_REPO": "org/m"}
    api.delete_space_variable(repo_id, "MODEL_REPO")
    assert api.get_space_variables(repo_id) == {}
    assert api.get_space_runtime(repo_id).stage == "RUNNING"


def test_transformers_push_to_hub_and_from_pretrained() -> None:
    import torch
    import transformers

    config = transformers.BertConfig(
        vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16
    )
    model = transformers.BertModel(config)
    repo_id = new_repo_id("bert")
    model.push_to_hub(repo_id)

    assert transformers.AutoConfig.from_pretrained(repo_id).hidden_size == 8
    loaded = transformers.AutoModel.from_pretrained(repo_id)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert "model.safetensors" in HfApi().list_repo_files(repo_id)


def test_offline_snapshot_download_from_cache() -> None:
    api = HfApi()
    repo_id = new_repo_id("offline")
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b'{"a": 1}', path_in_repo="config.json", repo_id=repo_id)
    api.upload_file(path_or_fileobj=BINARY, path_in_repo="weights.bin", repo_id=repo_id)
    online = snapshot_download(repo_id)

    stdout = run_offline(
        f"""
        import json
        from pathlib import Path
        from huggingface_hub import hf_hub_download, snapshot_download
        path = snapshot_download({repo_id!r})
        config = Path(hf_hub_download({repo_id!r}, "config.json")).read_text()
        print(json.dumps({{"path": path, "size": (Path(path) / "weights.bin").stat().st_size, "config": config}}))
        """
    )
    assert json.loads(stdout) == {"path": online, "size": len(BINARY), "config": '{"a": 1}'}


def test_standalone_hub_reset_and_unknown_routes() -> None:
    with LocalHub() as hub:  # port 0: a free port is picked on start
        api = HfApi(endpoint=hub.endpoint)
        api.create_repo("org/tmp")
        assert api.repo_exists("org/tmp")
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"{hub.endpoint}/api/no-such-route")
        assert error.value.code == 404
        assert hub.unhandled == ["GET /api/no-such-route"]
        hub.reset()
        assert not api.repo_exists("org/tmp")
        assert hub.unhandled == []
