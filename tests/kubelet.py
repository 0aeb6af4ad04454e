"""A directory laid out and updated the way kubelet mounts a ConfigMap or Secret.

Kubelet's atomic writer (kubernetes pkg/volume/util/atomic_writer.go) writes each version into
a new directory named after the time (`..2026_12_01_10_00_00.000000001`), points a new
`..data_tmp` symlink at it, renames that onto `..data` (the one atomic step), then adds the
visible `name -> ..data/name` symlinks for new names, removes those of names that are gone,
and deletes the old version's directory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["Mounted"]


class Mounted:
    def __init__(self, root: Path, files: dict[str, bytes]) -> None:
        root.mkdir(parents=True)
        self.root, self.version = root, 0
        self.write(files)

    def write(self, files: dict[str, bytes]) -> None:
        self.version += 1
        name = f"..2026_12_01_10_00_{self.version:02d}.{self.version:09d}"
        version = self.root / name
        version.mkdir()
        for file, data in files.items():
            (version / file).write_bytes(data)
        data_link = self.root / "..data"
        old = os.readlink(data_link) if data_link.is_symlink() else None
        (self.root / "..data_tmp").symlink_to(name)
        os.replace(self.root / "..data_tmp", data_link)
        for file in files:
            if not (self.root / file).is_symlink():
                (self.root / file).symlink_to(f"..data/{file}")
        for visible in self.root.iterdir():
            if not visible.name.startswith("..") and visible.name not in files:
                visible.unlink()
        if old is not None:
            shutil.rmtree(self.root / old)

    def path(self, file: str) -> Path:
        return self.root / file
