"""validate-release: release specs, the per-side environment and pytest commands, and bad input named."""
import sys

import pytest

from zoo import release
from zoo.release import ReleaseError, Side, parse_specs, pytest_command, venv_commands


def test_specs_are_pinned_aimet_distributions():
    assert parse_specs("aimet-torch==2.41.0", "--baseline") == ("aimet-torch==2.41.0",)
    assert parse_specs("aimet-torch==2.41.0, aimet-onnx==2.41.0", "--baseline") == (
        "aimet-torch==2.41.0", "aimet-onnx==2.41.0")


@pytest.mark.parametrize("text", ["aimet-torch>=2.41", "torch==2.14.1", "", "aimet-torch==2.41.0,aimet-torch==2.42.0"])
def test_bad_specs_name_the_option(text):
    with pytest.raises(ReleaseError, match="--candidate"):
        parse_specs(text, "--candidate")


def test_each_side_gets_its_own_venv_over_this_interpreter_with_only_aimet_installed():
    side = Side("baseline", ("aimet-torch==2.41.0", "aimet-onnx==2.41.0"))
    make, install = venv_commands(side)
    assert make == [sys.executable, "-m", "venv", "--system-site-packages", str(side.venv)]
    assert install[:4] == [str(side.python), "-m", "pip", "install"] and "--no-deps" in install
    assert install[-2:] == ["aimet-torch==2.41.0", "aimet-onnx==2.41.0"]
    assert side.venv.name == "aimet-torch-2.41.0_aimet-onnx-2.41.0"
    assert Side("candidate", ("aimet-torch==2.42.0",)).venv != side.venv


def test_both_sides_run_the_same_selection_into_their_own_results(tmp_path):
    base, new = Side("baseline", ("aimet-torch==2.41.0",)), Side("candidate", ("aimet-torch==2.42.0",))
    args = ["tests/test_zoo.py", "-m", "embedded and torch"]
    a, b = pytest_command(base, tmp_path / "baseline", args), pytest_command(new, tmp_path / "candidate", args)
    assert a[0] == str(base.python) and b[0] == str(new.python)
    assert a[-3:] == b[-3:] == args
    assert pytest_command(base, tmp_path, [])[-3:] == list(release.DEFAULT_SELECTION)


def existing_venv(monkeypatch, tmp_path, side: Side, torch_version: str) -> Side:
    """``side`` as if its environment were built, importing ``torch_version`` of aimet-torch."""
    monkeypatch.setattr(release.paths, "CACHE", tmp_path)
    side.python.parent.mkdir(parents=True)
    side.python.touch()
    monkeypatch.setattr(release, "installed_versions", lambda s: {"aimet-torch": torch_version, "aimet-onnx": "2.42.0"})
    return side


def test_a_venv_importing_another_version_is_refused(monkeypatch, tmp_path):
    side = existing_venv(monkeypatch, tmp_path, Side("candidate", ("aimet-torch==2.42.0",)), "2.41.0")
    with pytest.raises(ReleaseError, match="imports aimet-torch 2.41.0, not 2.42.0; delete .* and run again"):
        release.ensure_venv(side)


def test_a_run_without_rows_is_an_error(tmp_path):
    with pytest.raises(ReleaseError, match="wrote no run directory"):
        release.newest_run(tmp_path)


def test_a_release_that_installs_but_does_not_import_is_refused_with_the_pairing_rule(monkeypatch, tmp_path):
    side = existing_venv(monkeypatch, tmp_path, Side("baseline", ("aimet-torch==2.10.0",)), "2.10.0")
    monkeypatch.setattr(release, "import_failure", lambda s: "ImportError: Importing aimet_common failed")
    with pytest.raises(ReleaseError, match="does not import .* validate 2.20.0 or later"):
        release.ensure_venv(side)
