"""The package ships its yaml defaults: a wheel installed (not editable) into a fresh virtual
environment, run from outside the repository, trains a plugin model with them."""

import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

from conftest import REPO_ROOT

CHECK = textwrap.dedent(
    """
    import json, sys
    import recbole_ext
    from recbole.config import Config
    from recbole.quick_start import run_recbole
    config = Config(model="WALS", dataset="ml-100k")
    result = run_recbole(model="WALS", dataset="ml-100k",
                         config_dict={"epochs": 1, "show_progress": False, "state": "ERROR"})
    print(json.dumps({"file": recbole_ext.__file__, "reg_weight": config["reg_weight"],
                      "solver": config["solver"], "ema_decay": config["ema_decay"],
                      "argus_variant": Config(model="ARGUS", dataset="ml-100k")["argus_variant"],
                      "ndcg": float(result["test_result"]["ndcg@10"])}))
    """
)


def test_a_wheel_installed_into_a_fresh_environment_has_the_model_defaults(tmp_path):
    import json

    import yaml

    source = tmp_path / "src"  # a clean copy: an in-place build would reuse (and leave) a build/ folder
    shutil.copytree(REPO_ROOT / "recbole_ext", source / "recbole_ext", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"),
         str(source)],
        check=True, capture_output=True, timeout=600,
    )
    (wheel,) = (tmp_path / "dist").glob("recbole_ext-*.whl")
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=False)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(env_dir), "platbase": str(env_dir)}))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        check=True, capture_output=True, timeout=600,
    )
    # the dependencies (RecBole, torch, ...) come from this environment as plain paths, so its
    # editable recbole_ext (a finder registered by a .pth file there) is not seen
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    done = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", CHECK], cwd=work, capture_output=True, text=True, timeout=600,
        env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    shipped = yaml.safe_load((REPO_ROOT / "recbole_ext" / "properties" / "model" / "WALS.yaml").read_text())
    assert found["file"].startswith(str(site))
    assert (found["reg_weight"], found["solver"]) == (shipped["reg_weight"], shipped["solver"])
    assert found["ema_decay"] is None and found["argus_variant"] == "simplified"
    assert found["ndcg"] > 0.05
