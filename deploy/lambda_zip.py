"""Make the zip ``chalice package`` wrote into the zip Lambda runs.

``make package`` runs this on ``deployment.zip`` in place (the template keeps
pointing at it):

- packages the Lambda runtime provides are left out: botocore and what it
  needs (``RUNTIME_PROVIDED``); the runtime's own copies, already compiled,
  are used instead (README, "The Lambda package");
- what no request reads is left out: the service's own modules that ``app.py``
  never reaches (those of ``manage.py``: ``service_modules``), the Python parts
  of cffi and dnspython (``NEVER_IMPORTED``), old byte code, type stubs, ``py.typed`` markers
  and the install records (``*.dist-info``) of packages that no code reads
  through ``importlib.metadata`` (``METADATA_READ``);
- every ``.py`` gets its byte code for this interpreter (Python 3.11, the
  functions' runtime) in ``__pycache__``, checked against the source's hash:
  never stale, and valid without writing, since Lambda's file system is
  read-only and byte code missing there would be compiled on every cold start.

``python -m deploy.lambda_zip ZIP [--vendor PACKAGE ...]``; ``--vendor`` copies
installed packages into the zip instead (the benchmark builds the vendored
variant this way).
"""

from __future__ import annotations

import argparse
import ast
import compileall
import importlib.util
import os
import py_compile
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

# Top-level names (a package, a module, or the start of a dist-info folder)
# that the python3.11 Lambda runtime provides.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six")
# Packages installed as dependencies that no request imports: cryptography loads
# cffi's compiled ``_cffi_backend`` only; cffi's Python package and pycparser
# serve building bindings.
# dns: email-validator imports it only to check deliverability, which the
# service never asks for.
NEVER_IMPORTED = ("cffi", "pycparser", "dns")
# Distributions whose install records code reads at run time.
METADATA_READ: tuple[str, ...] = ()
# Byte code with the source's hash (PEP 552); the interpreter checks it against
# the source and never writes.
INVALIDATION = py_compile.PycInvalidationMode.CHECKED_HASH
# A fixed timestamp makes the zip depend on its contents only.
DATE = (2020, 1, 1, 0, 0, 0)
# zlib's default level: level 9 makes this zip 0.75% smaller (60 KB of 7.9 MB) for
# three and a half times the CPU, every ``make package`` and every test session.
COMPRESSLEVEL = 6


def top_level(name: str) -> str:
    """The distribution-ish name an entry belongs to: ``botocore`` for
    ``botocore/x.py`` and ``botocore-1.0.dist-info/RECORD``; ``six`` for ``six.py``."""
    first = name.split("/", 1)[0]
    if first.endswith((".dist-info", ".data")):
        first = first.split("-", 1)[0]
    return first.removesuffix(".py").lower().replace("-", "_")


def _runtime_name(name: str) -> bool:
    first = top_level(name)
    aliases = {"python_dateutil": "dateutil"}
    return aliases.get(first, first) in RUNTIME_PROVIDED


def _imported(node: ast.AST, package: str) -> list[str]:
    """The modules an import statement may load (``from p import m``: p and p.m)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return []


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def service_modules(sources: dict[str, bytes], entry: str = "app") -> set[str]:
    """The service's modules (``app.py``, ``chalicelib/**/*.py``) that ``entry`` reaches
    through its imports, those inside functions included; ``sources`` maps a
    zip path to its bytes."""
    modules = {path[:-3].replace("/", "."): path for path in sources if path.endswith(".py")}
    for path in list(modules.values()):
        if path.endswith("/__init__.py"):
            modules[path[: -len("/__init__.py")].replace("/", ".")] = path
    reached: set[str] = set()
    pending = [entry]
    while pending:
        module = pending.pop()
        if module in reached or module not in modules:
            continue
        reached.add(module)
        tree = ast.parse(sources[modules[module]])
        skipped = {id(n) for t in ast.walk(tree) if _type_checking_only(t) for n in ast.walk(t)}
        for node in ast.walk(tree):
            if id(node) not in skipped:
                pending += [name for name in _imported(node, module) if name in modules]
                # importing a.b.c runs a/__init__.py and a/b/__init__.py first
                for name in _imported(node, module):
                    parts = name.split(".")
                    pending += [".".join(parts[:i]) for i in range(1, len(parts))]
    return {modules[module] for module in reached}


def kept(name: str) -> bool:
    """Whether an entry of Chalice's zip belongs in the zip Lambda runs (the
    service's own unreachable modules aside: ``service_modules``)."""
    parts = name.split("/")
    if _runtime_name(name) or top_level(name) in NEVER_IMPORTED:
        return False
    if "__pycache__" in parts or name.endswith((".pyc", ".pyi")) or parts[-1] == "py.typed":
        return False
    if parts[0].endswith(".data"):  # scripts and headers a wheel installs elsewhere
        return False
    return not (parts[0].endswith(".dist-info") and top_level(name) not in METADATA_READ)


def compile_tree(root: Path) -> list[str]:
    """Compile every ``.py`` under ``root``; the files that do not compile."""
    compileall.compile_dir(
        root, quiet=2, force=True, workers=0, invalidation_mode=INVALIDATION, ddir="/var/task"
    )
    tag = sys.implementation.cache_tag
    return [
        str(source.relative_to(root))
        for source in sorted(root.rglob("*.py"))
        if not (source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc").exists()
    ]


def _write_tree(root: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESSLEVEL) as out:
        for path in sorted(root.rglob("*")):
            if path.is_dir():
                continue
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), DATE)
            info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, path.read_bytes(), compresslevel=COMPRESSLEVEL)


def _installed(package: str) -> list[Path]:
    """An installed package's folder (or module file), from this interpreter."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise SystemExit(f"{package} is not installed")
    origin = Path(spec.origin)
    top = origin.parent if origin.name == "__init__.py" else origin
    return [top]


def rebuild(zip_path: Path, vendor: Iterable[str] = ()) -> None:
    """Rewrite ``zip_path`` as described above; ``vendor``: packages copied in."""
    with tempfile.TemporaryDirectory(prefix="lambda-zip-") as folder:
        root = Path(folder) / "task"
        with zipfile.ZipFile(zip_path) as chalices:
            service = {
                name: chalices.read(name)
                for name in chalices.namelist()
                if name == "app.py" or (name.startswith("chalicelib/") and name.endswith(".py"))
            }
            reached = service_modules(service)
            for info in chalices.infolist():
                if info.is_dir() or not kept(info.filename):
                    continue
                if info.filename in service and info.filename not in reached:
                    continue
                target = root / info.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(chalices.read(info))
                if (info.external_attr >> 16) & 0o111:
                    target.chmod(0o755)
        for package in vendor:
            for source in _installed(package):
                if source.is_dir():
                    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyi", "py.typed")
                    shutil.copytree(source, root / source.name, ignore=ignore)
                else:
                    shutil.copy2(source, root / source.name)
        failed = compile_tree(root)
        if failed:
            raise SystemExit(f"these files do not compile for Python 3.11: {failed}")
        rebuilt = Path(folder) / "deployment.zip"
        _write_tree(root, rebuilt)
        shutil.move(rebuilt, zip_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("zip", type=Path, help="the deployment.zip chalice package wrote")
    parser.add_argument("--vendor", action="append", default=[], help="a package to copy in")
    args = parser.parse_args(argv)
    if sys.version_info[:2] != (3, 11):
        raise SystemExit("build the package with Python 3.11, the functions' runtime")
    rebuild(args.zip, args.vendor)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
