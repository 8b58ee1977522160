"""The top-level Dockerfile is the one file: the build backend copies it into the package, where
the installed tool reads it with importlib.resources (lambdazip/build/resources.py)."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithDockerfile(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # the package is the source tree, beside the Dockerfile
            return
        self.copy_file("Dockerfile", str(Path(self.build_lib, "lambdazip", "Dockerfile")))


setup(cmdclass={"build_py": BuildPyWithDockerfile})
