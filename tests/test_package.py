"""The package's shape: a cheap import, registration on first use, self-contained remote code, a README map that
matches the tree, and modules and functions small enough to read."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import deepfake_detection
from deepfake_detection.export import REMOTE_CODE_FILES

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "modeling" / "deepfake_detection"
MAX_MODULE_LINES = 320
MAX_FUNCTION_LINES = 60


def run_python(code: str) -> str:
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return completed.stdout.strip()


def test_importing_the_package_loads_nothing_heavy():
    heavy = ("torch", "transformers", "numpy", "PIL", "datasets", "facenet_pytorch", "sklearn")
    loaded = run_python(f"import sys, deepfake_detection; print([m for m in {heavy!r} if m in sys.modules])")
    assert loaded == "[]"


def test_a_prediction_without_heatmaps_does_not_load_grad_cam(model_dir, tmp_path):
    """pytorch-grad-cam (with scikit-learn and matplotlib, ~2 s) waits for the first explanation, so a cold `predict`
    is that much shorter; an explanation then loads it."""
    from model_factory import astronaut

    image = tmp_path / "face.png"
    astronaut().save(image)
    late = ("pytorch_grad_cam", "sklearn", "matplotlib")
    out = run_python(
        "import sys\n"
        "from deepfake_detection import load_pipeline\n"
        f"detector = load_pipeline({str(model_dir)!r})\n"
        f"detector({str(image)!r})\n"
        f"print([m for m in {late!r} if m in sys.modules])\n"
        f"detector({str(image)!r}, explain=True)\n"
        "print('pytorch_grad_cam' in sys.modules)\n"
    )
    assert out.splitlines()[-2:] == ["[]", "True"]


def test_the_command_line_parser_loads_neither_torch_nor_scipy_nor_opencv():
    """Every command's parser (train's included) is built before any work: none of them may cost a cold start."""
    loaded = run_python(
        "import sys, deepfake_detection.cli as cli; cli.build_parser()\n"
        "print([m for m in ('torch', 'scipy', 'cv2') if m in sys.modules])"
    )
    assert loaded == "[]"


def test_the_training_package_gives_its_augmentation_functions_by_name():
    out = run_python(
        "import deepfake_detection.training as training\n"
        "from deepfake_detection.training import augment, self_blend, AugmentSettings\n"
        "print(callable(augment), callable(self_blend), AugmentSettings.light().describe() != '')"
    )
    assert out == "True True True"


def test_first_use_of_a_model_class_registers_the_auto_classes_and_the_task():
    out = run_python(
        "import deepfake_detection\n"
        "from transformers import AutoConfig\n"
        "from transformers.pipelines import PIPELINE_REGISTRY\n"
        "print('deepfake-detection' in PIPELINE_REGISTRY.get_supported_tasks())\n"
        "deepfake_detection.DeepfakeDetectorConfig\n"
        "print(type(AutoConfig.for_model('deepfake_detector')).__name__)\n"
        "print('deepfake-detection' in PIPELINE_REGISTRY.get_supported_tasks())\n"
    )
    assert out.splitlines() == ["False", "DeepfakeDetectorConfig", "True"]


def test_every_public_name_resolves_and_unknown_names_fail():
    for name in deepfake_detection.__all__:
        assert getattr(deepfake_detection, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        deepfake_detection.nonexistent  # noqa: B018


def test_remote_code_files_import_only_each_other_and_third_party_packages():
    allowed = {Path(name).stem for name in REMOTE_CODE_FILES}
    for name in REMOTE_CODE_FILES:
        tree = ast.parse((PACKAGE / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1 and node.module in allowed, f"{name} imports .{node.module}"
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0):
                modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module]
                assert not any(module.startswith("deepfake_detection") for module in modules), name


def readme_module_map() -> set[str]:
    """The names listed under `modeling/deepfake_detection/` in the README's layout block."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    package = block.split("modeling/deepfake_detection/\n", 1)[1].split("\nscripts/", 1)[0]
    return {match for match in re.findall(r"^  ([\w.]+/?)", package, flags=re.MULTILINE)}


def test_the_readme_module_map_matches_the_tree():
    on_disk = {path.name for path in PACKAGE.glob("*.py")}
    on_disk |= {f"{path.name}/" for path in PACKAGE.iterdir() if path.is_dir() and not path.name.startswith("__")}
    assert readme_module_map() == on_disk


def test_modules_and_functions_stay_small():
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(ROOT)}: {node.name} is {length} lines")
    assert too_long == []


def test_the_console_command_runs_main_then_spares_the_exit_its_final_garbage_collections():
    """`gc.freeze()` after the command saves ~1 s of every cold run's exit (timed by scripts/benchmark.py)."""
    import tomllib

    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["deepfake-detection"] == "deepfake_detection.cli:console_main"
    out = run_python(
        "import gc\n"
        "from deepfake_detection.cli import console_main\n"
        "before = gc.get_freeze_count()\n"
        "code = console_main(['predict', 'no-such-file.png', '--model', 'unused'])\n"
        "print(before, code, gc.get_freeze_count() > 0)"
    )
    assert out.splitlines()[-1] == "0 2 True"  # the model cannot load: exit code 2, and still frozen
