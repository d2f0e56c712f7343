"""The code package Lambda runs: ``deployment.zip`` as ``make package`` writes it.

Built once per session (conftest.py's ``package_dir``), opened here: its size,
what it holds and leaves to the Lambda runtime, and byte code for every module
that the interpreter takes as is, imported from the unzipped package in a
read-only folder without writing anything.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bench import coldstart
from deploy import lambda_zip
from devtools.local_stack import Store, manage

# make package runs once per worker (conftest.py's package_dir): this module
# and test_package.py run on the same one.
pytestmark = pytest.mark.xdist_group("package")

MAX_ZIP_BYTES = 12 * 1024 * 1024
CHALICE_CLI_TOOLING = (
    "pip",
    "setuptools",
    "wheel",
    "inquirer",
    "blessed",
    "click",
    "yaml",
    "_yaml",
    "pkg_resources",
    "_distutils_hack",
)
HASH_BASED_FLAGS = (0b01, 0b11)  # PEP 552: unchecked and checked hash-based .pyc


@pytest.fixture(scope="module")
def package(package_dir: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(package_dir / "deployment.zip")


@pytest.fixture(scope="module")
def unzipped(package: zipfile.ZipFile, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package unzipped into a folder nobody may write to, as /var/task is."""
    assert package.filename is not None
    return coldstart.unzip(Path(package.filename), tmp_path_factory.mktemp("lambda") / "task")


def byte_code_name(source: str) -> str:
    folder, _, name = source.rpartition("/")
    compiled = f"__pycache__/{name[:-3]}.{sys.implementation.cache_tag}.pyc"
    return f"{folder}/{compiled}" if folder else compiled


def test_zip_is_at_most_12_mib(package_dir: Path) -> None:
    assert (package_dir / "deployment.zip").stat().st_size <= MAX_ZIP_BYTES


def test_every_module_has_byte_code_for_its_current_source(package: zipfile.ZipFile) -> None:
    names = set(package.namelist())
    sources = sorted(name for name in names if name.endswith(".py"))
    assert "app.py" in sources and "pynamodb/models.py" in sources
    for source in sources:
        compiled = byte_code_name(source)
        assert compiled in names, compiled
        header = package.read(compiled)[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER, compiled  # this Python: 3.11
        assert int.from_bytes(header[4:8], "little") in HASH_BASED_FLAGS, compiled
        assert header[8:16] == importlib.util.source_hash(package.read(source)), compiled
    assert not [n for n in names if n.endswith(".pyc") and ".cpython-311." not in n]


def test_zip_holds_none_of_chalices_command_line_tooling(package: zipfile.ZipFile) -> None:
    tops = {lambda_zip.top_level(name) for name in package.namelist()}
    assert tops.isdisjoint(CHALICE_CLI_TOOLING)
    chalice = {n for n in package.namelist() if n.startswith("chalice/") and n.endswith(".py")}
    assert chalice == {"chalice/__init__.py", "chalice/app.py"}  # Chalice's runtime only


def test_zip_leaves_botocore_to_the_lambda_runtime(package: zipfile.ZipFile) -> None:
    tops = {lambda_zip.top_level(name) for name in package.namelist()}
    assert tops.isdisjoint(lambda_zip.RUNTIME_PROVIDED)
    assert not any(name.endswith(".dist-info/RECORD") for name in package.namelist())


def test_service_modules_are_those_app_reaches() -> None:
    sources = {
        "app.py": b"from chalicelib import a\ndef f():\n    from chalicelib.b import x\n",
        "chalicelib/__init__.py": b"",
        "chalicelib/a.py": b"import json\n",
        "chalicelib/b.py": b"from typing import TYPE_CHECKING\n"
        b"if TYPE_CHECKING:\n    from chalicelib import c\n",
        "chalicelib/c.py": b"",
        "ops/cli.py": b"from chalicelib import a\n",
    }
    assert lambda_zip.service_modules(sources) == {
        "app.py",
        "chalicelib/__init__.py",
        "chalicelib/a.py",
        "chalicelib/b.py",
    }


# What the routes import besides ``import app``: the modules app.py and
# chalicelib import inside functions, found the way make package finds them.
IMPORT_EVERYTHING = """
import ast, json, sys
from pathlib import Path
task = Path(sys.argv[1])
sys.path[:0] = [str(task), *sys.argv[2:]]
imports = set()
service = ["app.py", *(p.relative_to(task).as_posix() for p in task.glob("chalicelib/**/*.py"))]
for path in service:
    for node in ast.walk(ast.parse((task / path).read_text())):
        if isinstance(node, ast.Import):
            imports |= {(alias.name, ()) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imports.add((node.module, tuple(alias.name for alias in node.names)))
import app
for name, fromlist in sorted(imports):
    __import__(name, fromlist=fromlist)  # imports the submodules a fromlist names
loaded = sorted(
    module.__file__ for module in list(sys.modules.values())
    if getattr(module, "__file__", None) and module.__file__.startswith(str(task) + "/")
)
print(json.dumps(loaded))
"""


def runtime_paths() -> list[str]:
    """Where the Lambda runtime's botocore stands in: this environment's site-packages."""
    spec = importlib.util.find_spec("botocore")
    assert spec is not None and spec.origin is not None
    return [str(Path(spec.origin).parent.parent)]


@pytest.fixture(scope="module")
def imported_from_package(unzipped: Path) -> tuple[list[str], str]:
    """Files of the package loaded by ``import app`` and every module the service
    imports, in a fresh interpreter that may not write byte code (``-v``'s trace)."""
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "SERVICE_ENV": "aws",
        "TABLE_PREFIX": "users-prod-",
        "AWS_DEFAULT_REGION": "eu-north-1",
    }
    env.pop("PYTHONPYCACHEPREFIX", None)
    done = subprocess.run(
        [sys.executable, "-S", "-v", "-c", IMPORT_EVERYTHING, str(unzipped), *runtime_paths()],
        cwd=unzipped,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded: list[str] = json.loads(done.stdout)
    return loaded, done.stderr


def test_modules_load_from_the_zips_byte_code_without_compiling(
    unzipped: Path, imported_from_package: tuple[list[str], str]
) -> None:
    loaded, trace = imported_from_package
    sources = [path for path in loaded if path.endswith(".py")]
    assert str(unzipped / "app.py") in sources and len(sources) > 100
    read = {
        line.split("'")[1]
        for line in trace.splitlines()
        if line.startswith("# code object from '") and line.endswith(".pyc'")
    }
    for source in sources:
        relative = Path(source).relative_to(unzipped).as_posix()
        assert str(unzipped / byte_code_name(relative)) in read, source
    assert "bytecode is stale" not in trace
    assert not list(unzipped.rglob("*.pyc.*"))  # nothing was written beside them


def test_every_package_in_the_zip_is_imported_by_the_service(
    package: zipfile.ZipFile, unzipped: Path, imported_from_package: tuple[list[str], str]
) -> None:
    loaded, _ = imported_from_package
    used = {Path(path).relative_to(unzipped).parts[0] for path in loaded}
    used = {name.removesuffix(".py") for name in used}
    shipped = {name.split("/", 1)[0] for name in package.namelist()}
    shipped = {name.removesuffix(".py") for name in shipped} - {"__pycache__"}
    assert shipped - used == set()
    service = {n for n in package.namelist() if n.endswith(".py") and "/" not in n.strip("/")}
    service |= {n for n in package.namelist() if n.startswith("chalicelib/") and n.endswith(".py")}
    assert {str(unzipped / name) for name in service} <= set(loaded)


def test_unzipped_package_decides_and_answers_as_its_two_functions(
    unzipped: Path, tmp_path: Path, local_store: Store
) -> None:
    """Both handlers run from the package on a Lambda-like path, DynamoDB Local the
    store: the authorizer allows an API key, the API handler answers with its context."""
    runtime = Path(runtime_paths()[0])
    env = coldstart.lambda_env(local_store.endpoint)
    manage(env, "create-tables")
    made = json.loads(manage(env, "create-user", "--email", "zip@example.org", "--api-key"))
    header = f"Bearer {made['key']}"
    event = {"type": "TOKEN", "authorizationToken": header, "methodArn": coldstart.ARN}
    decided = coldstart.run_once(unzipped, runtime, "app.authorizer", event, env).answer
    assert decided["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert decided["context"]["user_id"] == made["id"]
    context = {"principalId": decided["principalId"], **decided["context"]}
    route = coldstart.api_event("/api/v1/user/me", header, context)
    answer = coldstart.run_once(unzipped, runtime, "app.app", route, env).answer
    assert answer["statusCode"] == 200, answer
    assert json.loads(answer["body"])["user"]["id"] == made["id"]
