"""Install the test plugin distribution the way pip lays it out (package + .dist-info with METADATA and
entry_points.txt) into a folder that goes on sys.path, without building a wheel (fast, offline)."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

PLUGIN = Path(__file__).parent / "invarlock-scale-all"


def install_plugin(site: Path, source: Path = PLUGIN) -> dict[str, str]:
    """Copy the plugin's packages into `site` and write its .dist-info; returns {name, version}."""
    project = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))
    meta = project["project"]
    name, version = meta["name"], meta["version"]
    for package in project["tool"]["setuptools"]["packages"]:
        shutil.copytree(source / package, site / package, dirs_exist_ok=True)
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    groups = meta.get("entry-points", {})
    lines = [f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()) for group, entries in groups.items()]
    (info / "entry_points.txt").write_text("\n".join(lines), encoding="utf-8")
    (info / "RECORD").write_text("", encoding="utf-8")
    return {"name": name, "version": version}
