"""Site directories that hold only what a Lambda package would, for cold-start and import-time runs.

The project's .venv holds test tools too (moto pulls in Flask, for one). Connexion imports Flask when it can
find it, so a cold start measured on the .venv would count imports a Lambda never makes. Each closure here is a
folder of symlinks into the .venv's site-packages: the named distributions and everything they require, nothing
else. Child processes run with `python -S` and this folder on PYTHONPATH, like a Lambda runs with its zip.
"""

import re
import shutil
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from bench.gateway import ROOT

BUILD = ROOT / "build" / "bench"


def canonical(name: str) -> str:
    """A distribution's name as the index compares names (PEP 503): `jsonschema_rs` = `jsonschema-rs`."""
    return re.sub(r"[-_.]+", "-", Requirement(name).name).lower()


def requirement_names(path: Path = ROOT / "requirements.txt") -> list[str]:
    """The distributions a requirements file names (extras kept: `connexion[swagger-ui]`)."""
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(line)
    return names


def closure(roots: list[str]) -> list[metadata.Distribution]:
    """The installed distributions `roots` need, following their requirements (and requested extras)."""
    seen: dict[str, metadata.Distribution] = {}
    pending = [Requirement(root) for root in roots]
    while pending:
        requirement = pending.pop()
        key = canonical(requirement.name)
        if key in seen:
            continue
        distribution = metadata.distribution(requirement.name)
        seen[key] = distribution
        for text in distribution.requires or []:
            needed = Requirement(text)
            extras = requirement.extras or {""}
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(needed)
    return sorted(seen.values(), key=lambda d: d.metadata["Name"].lower())


def _top_level_entries(distribution: metadata.Distribution) -> set[str]:
    entries = set()
    for file in distribution.files or []:
        parts = Path(file).parts
        if parts and parts[0] != ".." and not (len(parts) == 1 and parts[0].endswith(".pth")):
            entries.add(parts[0] if parts[0] != "__pycache__" else str(Path(*parts[:2])))
    return entries


def build_site(name: str, roots: list[str]) -> Path:
    """(Re)build build/bench/<name>/ with symlinks to the closure of `roots`; returns the folder."""
    site = BUILD / name
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    for distribution in closure(roots):
        base = Path(distribution.locate_file(""))
        for entry in _top_level_entries(distribution):
            target, link = base / entry, site / entry
            if link.exists() or not target.exists():
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target, target_is_directory=target.is_dir())
    return site


def child_command(site: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    """`python -S <args>` and the PYTHONPATH that gives it the project and the closure only."""
    return [sys.executable, "-S", *args], {"PYTHONPATH": f"{ROOT}:{site}"}
