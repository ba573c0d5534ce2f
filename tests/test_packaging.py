"""Packaging: every data folder (TOML presets, JSON measurements) is a declared package, so
`pip install .` installs its files and setuptools prints no "Package would be ignored" warnings."""
import fnmatch
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DATA_SUFFIXES = (".toml", ".json", ".csv")


def _setuptools_config() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["setuptools"]


def _package_dirs() -> dict[str, Path]:
    """Declared package -> its source folder (package-dir mapping, longest prefix wins)."""
    cfg = _setuptools_config()
    mapping = cfg.get("package-dir", {})
    out = {}
    for pkg in cfg["packages"]:
        prefix = max((p for p in mapping if pkg == p or pkg.startswith(p + ".")), key=len)
        rest = pkg[len(prefix):].lstrip(".")
        out[pkg] = ROOT / mapping[prefix] / Path(*rest.split(".")) if rest else ROOT / mapping[prefix]
    return out


def _data_files() -> list[Path]:
    roots = {Path(d).parts[0] for d in _setuptools_config()["package-dir"].values()}
    return sorted(f for r in roots for f in (ROOT / r).rglob("*")
                  if f.suffix in DATA_SUFFIXES and "__pycache__" not in f.parts)


def test_every_data_folder_is_a_declared_package_and_matches_package_data():
    dirs = {d: pkg for pkg, d in _package_dirs().items()}
    patterns = _setuptools_config()["package-data"]["*"]
    files = _data_files()
    assert len(files) > 20                        # presets, LLM configs, GPU measurements
    undeclared = sorted({str(f.parent.relative_to(ROOT)) for f in files if f.parent not in dirs})
    assert not undeclared, f"data folders missing from [tool.setuptools] packages: {undeclared}"
    unmatched = [str(f.relative_to(ROOT)) for f in files if not any(fnmatch.fnmatch(f.name, p) for p in patterns)]
    assert not unmatched, f"data files no package-data pattern installs: {unmatched}"


def test_importlib_resources_finds_every_data_file():
    dirs = {d: pkg for pkg, d in _package_dirs().items()}
    for f in _data_files():
        assert resources.files(dirs[f.parent]).joinpath(f.name).is_file(), f


def _has_modern_setuptools() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


@pytest.mark.skipif(not _has_modern_setuptools(), reason="building offline needs setuptools>=77 in this env")
def test_wheel_holds_every_data_file_and_build_prints_no_package_warnings(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path), "-q"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "absent from" not in proc.stderr and "would be ignored" not in proc.stderr
    names = set(zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist())
    dirs = {d: pkg for pkg, d in _package_dirs().items()}
    for f in _data_files():
        assert "/".join([*dirs[f.parent].split("."), f.name]) in names, f
