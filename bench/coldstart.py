"""Cold start as Lambda pays it, measured from the package ``make package`` writes.

Each run is a fresh interpreter that imports a handler the way the Lambda
runtime does and calls it once, with DynamoDB a moto server on 127.0.0.1:

- the code is ``deployment.zip`` unzipped into a read-only folder, first on
  ``sys.path`` as /var/task is; then the runtime's own packages (boto3,
  botocore and what they need, with the byte code an install writes), standing
  in for /var/runtime; then the standard library. ``-S`` keeps this
  environment's site-packages out, ``PYTHONDONTWRITEBYTECODE=1`` keeps byte
  code from being written, as on Lambda's read-only file system;
- the timer starts before the handler's import (init) and stops after its first
  answer; peak memory is the interpreter's resident high-water mark at the
  end (``VmHWM``);
- the service runs as its two functions: the authorizer deciding on an API
  key, and the API handler answering ``GET /user/me`` with the context the
  authorizer returned;
- the floor is a minimal handler packaged and run the same way: ``import
  boto3``, one DynamoDB client, one ``GetItem``;
- the same service package with botocore vendored (copied into the zip and
  compiled alike) is measured too: the choice between the two.
"""

from __future__ import annotations

import compileall
import contextlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.table import Row
from deploy import lambda_zip
from devtools.local_stack import manage, moto_server

MAX_TIME_RATIO = 1.15
MAX_MEMORY_RATIO = 1.2
MAX_ZIP_MIB = 12.0
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
VENDORED = ("botocore", "jmespath", "dateutil", "six")  # what PynamoDB's botocore pulls in
PREFIX = "users-bench-"
BROKEN_DOWN = ("floor", "authorizer", "api")  # handlers whose time is broken down
ME = "/api/v1/user/me"
ARN = "arn:aws:execute-api:eu-north-1:123456789012:bench/api/GET/api/v1/user/me"

FLOOR_HANDLER = '''"""The floor: the least a Lambda function that reads one DynamoDB item does."""
import os

import boto3

CLIENT = boto3.client("dynamodb", endpoint_url=os.environ.get("DYNAMODB_ENDPOINT"))


def handler(event, context):
    return CLIENT.get_item(TableName=event["table"], Key={"id": {"S": event["id"]}})
'''

# Run in the fresh interpreter: import the handler as the runtime does, call it once.
RUNNER = """
import json, sys, time
started = time.perf_counter()
task, runtime, handler, event = sys.argv[1:5]
sys.path[:0] = [task, runtime]
module_name, function = handler.rsplit(".", 1)
module = __import__(module_name)
initialised = time.perf_counter()

class Context:
    aws_request_id = "bench-request"
    function_name = "bench"
    memory_limit_in_mb = 512
    def get_remaining_time_in_millis(self):
        return 30000

profile = None
if len(sys.argv) > 5:  # the breakdown's run: the first call under cProfile
    import cProfile
    profile = cProfile.Profile()
    profile.enable()
answer = getattr(module, function)(json.loads(event), Context())
done = time.perf_counter()
spent = []
if profile is not None:
    profile.disable()
    import pstats
    spent = [[where[0], where[2], times[2]] for where, times in pstats.Stats(profile).stats.items()]
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"init": initialised - started, "first": done - initialised,
                  "peak_kib": peak, "answer": answer, "spent": spent}, default=str))
"""


@dataclass
class Run:
    init_ms: float
    first_ms: float
    peak_mib: float
    answer: Any

    @property
    def total_ms(self) -> float:
        return self.init_ms + self.first_ms


@dataclass
class Runs:
    """Fresh interpreters of one handler."""

    runs: list[Run] = field(default_factory=list)

    def median(self, what: str) -> float:
        return float(statistics.median(getattr(run, what) for run in self.runs))


@contextlib.contextmanager
def workspace() -> Iterator[Path]:
    """A temporary folder whose read-only parts are made writable again to remove it."""
    folder = Path(tempfile.mkdtemp(prefix="bench-coldstart-"))
    try:
        yield folder
    finally:
        for root, dirs, _ in os.walk(folder):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
        folder.chmod(0o755)
        shutil.rmtree(folder)


def _read_only(folder: Path) -> Path:
    for root, dirs, files in os.walk(folder):
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o555)
    folder.chmod(0o555)
    return folder


def unzip(package: Path, folder: Path) -> Path:
    """The package unzipped into a read-only folder, as Lambda's /var/task is."""
    folder.mkdir(parents=True)
    with zipfile.ZipFile(package) as opened:
        opened.extractall(folder)
    return _read_only(folder)


def runtime_site(folder: Path) -> Path:
    """boto3, botocore and what they need, copied from this environment and
    compiled as an install compiles them: the Lambda runtime's own packages."""
    folder.mkdir(parents=True)
    for package in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{package} is not installed")
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            ignored = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(origin.parent, folder / origin.parent.name, ignore=ignored)
        else:
            shutil.copy2(origin, folder / origin.name)
    compileall.compile_dir(folder, quiet=2, workers=0)
    return _read_only(folder)


def floor_package(folder: Path) -> Path:
    """The floor's handler zipped and made into a Lambda zip the way make package does."""
    folder.mkdir(parents=True)
    package = folder / "floor.zip"
    with zipfile.ZipFile(package, "w") as opened:
        opened.writestr("handler.py", FLOOR_HANDLER)
    lambda_zip.rebuild(package)
    return package


def vendored_package(package: Path, folder: Path) -> Path:
    """The service's package with botocore and its needs copied in, compiled alike."""
    folder.mkdir(parents=True)
    variant = folder / "deployment-vendored.zip"
    shutil.copy2(package, variant)
    lambda_zip.rebuild(variant, vendor=VENDORED)
    return variant


def _run(
    task: Path,
    runtime: Path,
    handler: str,
    event: Mapping[str, Any],
    env: Mapping[str, str],
    breakdown: bool = False,
) -> tuple[dict[str, Any], str]:
    """The runner's report of one fresh interpreter, and what it wrote to stderr."""
    flags = ["-X", "importtime"] if breakdown else []
    args = [str(task), str(runtime), handler, json.dumps(event)] + (
        ["profile"] if breakdown else []
    )
    done = subprocess.run(
        [sys.executable, "-S", *flags, "-c", RUNNER, *args],
        cwd=task,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{handler} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def run_once(
    task: Path, runtime: Path, handler: str, event: Mapping[str, Any], env: Mapping[str, str]
) -> Run:
    out, _ = _run(task, runtime, handler, event, env)
    return Run(out["init"] * 1000, out["first"] * 1000, out["peak_kib"] / 1024, out["answer"])


# --- where a cold start's time goes ---------------------------------------------------


@dataclass
class Breakdown:
    """One more run of a handler, untimed: its import by ``-X importtime`` (self time
    added up per package, in ms) and its first call under cProfile (own time per
    package, in ms, and the functions with the most own time)."""

    import_ms: float
    imports: list[tuple[str, float]]
    first_ms: float
    first: list[tuple[str, float]]
    functions: list[tuple[str, float]]


def _package(name: str) -> str:
    """A module's package as the breakdown groups it: chalicelib by its layer folder."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "chalicelib" and len(parts) > 1 else parts[0]


def import_breakdown(stderr: str, module: str) -> tuple[float, dict[str, float]]:
    """The handler module's import from ``-X importtime``'s lines: its cumulative time,
    and the self time of everything it imported, per package (µs)."""
    entries = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        # One space after the bar, then two per level of nesting.
        entries.append((name[1:].rstrip(), int(own), int(cumulative)))
    # Children come before their parent: the handler's subtree is every line from the
    # one after the previous top-level line up to its own.
    end = max(i for i, (name, _, _) in enumerate(entries) if name == module)
    start = max([i for i in range(end) if not entries[i][0].startswith(" ")], default=-1) + 1
    per_package: dict[str, float] = {}
    for name, own_us, _ in entries[start : end + 1]:
        package = _package(name.strip())
        per_package[package] = per_package.get(package, 0.0) + own_us
    return float(entries[end][2]), per_package


def _origin(path: str, roots: dict[Path, str]) -> str:
    """The package a profiled function's file belongs to, by the folder it lies in."""
    if path.startswith("<frozen "):  # a standard module the interpreter carries frozen
        return f"stdlib: {path.removeprefix('<frozen ').rstrip('>').split('.')[0]}"
    if path.startswith("~") or path.startswith("<"):
        return "built-in"
    for root, label in roots.items():
        with contextlib.suppress(ValueError):
            relative = Path(path).relative_to(root)
            top = relative.parts[0].removesuffix(".py")
            if top == "chalicelib" and len(relative.parts) > 2:
                top = f"chalicelib.{relative.parts[1].removesuffix('.py')}"
            return f"{label}{top}"
    return path


def breakdown(h: Handler, runtime: Path, env: Mapping[str, str], top: int = 5) -> Breakdown:
    """Where one cold start of ``h`` spends its time (one run, untimed: the profiler and
    ``-X importtime`` slow it)."""
    out, stderr = _run(h.task, runtime, h.handler, h.event, env, breakdown=True)
    import_us, imports = import_breakdown(stderr, h.handler.split(".")[0])
    stdlib = Path(os.__file__).parent
    roots = {h.task: "", runtime: "", stdlib: "stdlib: "}
    first: dict[str, float] = {}
    functions: dict[str, float] = {}
    for path, function, seconds in out["spent"]:
        origin = _origin(path, roots)
        first[origin] = first.get(origin, 0.0) + seconds * 1000
        label = f"{origin}.{function}" if origin != "built-in" else function
        functions[label] = functions.get(label, 0.0) + seconds * 1000

    def most(found: dict[str, float], scale: float = 1.0) -> list[tuple[str, float]]:
        ranked = sorted(found.items(), key=lambda item: -item[1])[:top]
        return [(name, value * scale) for name, value in ranked]

    return Breakdown(
        import_ms=import_us / 1000,
        imports=most(imports, 1 / 1000),
        first_ms=sum(first.values()),
        first=most(first),
        functions=most(functions)[:3],
    )


def lambda_env(endpoint: str) -> dict[str, str]:
    """A Lambda function's environment: the prod stage's settings, DynamoDB at ``endpoint``."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(
        PYTHONDONTWRITEBYTECODE="1",
        SERVICE_ENV="aws",
        TABLE_PREFIX=PREFIX,
        AWS_REGION="eu-north-1",
        AWS_DEFAULT_REGION="eu-north-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_SESSION_TOKEN="bench",
        DYNAMODB_ENDPOINT=endpoint,
        SESSION_SECRET="bench-session-secret-0123456789abcdef",
    )
    return env


def api_event(
    path: str, header: str, authorizer: Mapping[str, Any], arrived: int | None = None
) -> dict[str, Any]:
    """An API Gateway proxy event as the API handler receives it behind the authorizer;
    ``arrived``: when the gateway received the request (``requestTimeEpoch``, ms)."""
    headers = {"Authorization": header, "Host": "bench.execute-api.eu-north-1.amazonaws.com"}
    return {
        "resource": path,
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": "GET",
            "path": f"/api{path}",
            "stage": "api",
            "domainName": headers["Host"],
            "requestId": "bench-request",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": dict(authorizer),
            **({} if arrived is None else {"requestTimeEpoch": arrived}),
        },
        "body": None,
        "isBase64Encoded": False,
    }


@dataclass
class Handler:
    """One handler to start cold: where its code is, what it is called with."""

    name: str
    task: Path
    handler: str
    event: dict[str, Any]


@dataclass
class ColdStarts:
    """Everything measured: per handler its runs, and the zips' sizes."""

    runs: dict[str, Runs]
    sizes: dict[str, tuple[int, int]]  # name -> (bytes, files)
    runtime_versions: str
    breakdowns: dict[str, Breakdown] = field(default_factory=dict)


def measure(package: Path, folder: Path, iterations: int) -> ColdStarts:
    """Cold starts of the service's two functions, as shipped and with botocore
    vendored, and of the floor, alternating, ``iterations`` each after one untimed."""
    runtime = runtime_site(folder / "runtime")
    floor_zip = floor_package(folder / "floor-zip")
    vendored_zip = vendored_package(package, folder / "vendored-zip")
    tasks = {
        "shipped": unzip(package, folder / "task"),
        "vendored": unzip(vendored_zip, folder / "task-vendored"),
        "floor": unzip(floor_zip, folder / "task-floor"),
    }
    sizes = {
        name: (path.stat().st_size, len(zipfile.ZipFile(path).namelist()))
        for name, path in (("shipped", package), ("vendored", vendored_zip), ("floor", floor_zip))
    }
    # A moto server, as in the runs before DynamoDB Local: the first DynamoDB calls of
    # each cold start are in the figures, which stay comparable that way.
    with moto_server() as store:
        env = lambda_env(store.endpoint)
        manage(env, "create-tables")
        made = json.loads(manage(env, "create-user", "--email", "bench@example.org", "--api-key"))
        header = f"Bearer {made['key']}"
        token_event = {"type": "TOKEN", "authorizationToken": header, "methodArn": ARN}
        # The first use of a key is written by the route after its answer; cold starts
        # are measured after it, with a decision that carries it (the steady state).
        context = decide(tasks["shipped"], runtime, token_event, env)
        run_once(tasks["shipped"], runtime, "app.app", api_event(ME, header, context), env)
        context = decide(tasks["shipped"], runtime, token_event, env)
        if not context.get("last_used"):
            raise RuntimeError(f"the key's first use was not recorded: {context}")
        # API Gateway serves a cached decision: the route reads the caller again.
        cached = api_event(ME, header, context)
        # A decision made for this very request: the route answers from its read.
        fresh = api_event(ME, header, context, arrived=int(context["read_at"]) - 1)
        floor_event = {"table": f"{PREFIX}users", "id": made["id"]}
        handlers = [
            Handler("floor", tasks["floor"], "handler.handler", floor_event),
            Handler("authorizer", tasks["shipped"], "app.authorizer", token_event),
            Handler("api", tasks["shipped"], "app.app", cached),
            Handler("api, fresh decision", tasks["shipped"], "app.app", fresh),
            Handler("authorizer, vendored", tasks["vendored"], "app.authorizer", token_event),
            Handler("api, vendored", tasks["vendored"], "app.app", cached),
        ]
        runs = {h.name: Runs() for h in handlers}
        for index in range(iterations + 1):
            order = handlers if index % 2 == 0 else handlers[::-1]
            for h in order:
                run = run_once(h.task, runtime, h.handler, h.event, env)
                _check(h, run)
                if index > 0:
                    runs[h.name].runs.append(run)
        broken_down = {
            h.name: breakdown(h, runtime, env) for h in handlers if h.name in BROKEN_DOWN
        }
    versions = f"boto3 {version('boto3')}, botocore {version('botocore')}"
    return ColdStarts(runs, sizes, versions, broken_down)


def decide(task: Path, runtime: Path, event: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    """The authorizer's context for ``event``, from one cold run; it must allow."""
    decided = run_once(task, runtime, "app.authorizer", event, env).answer
    if decided["policyDocument"]["Statement"][0]["Effect"] != "Allow":
        raise RuntimeError(f"the authorizer refused the benchmark's key: {decided}")
    return {"principalId": decided["principalId"], **decided.get("context", {})}


def _check(h: Handler, run: Run) -> None:
    answer = run.answer
    if h.name.startswith("api") and answer.get("statusCode") != 200:
        raise RuntimeError(f"{h.name}: {answer}")
    if h.name.startswith("authorizer") and "user_id" not in answer.get("context", {}):
        raise RuntimeError(f"{h.name}: {answer}")
    if h.name == "floor" and "Item" not in answer:
        raise RuntimeError(f"floor: {answer}")


def _spent(parts: list[tuple[str, float]]) -> str:
    return ", ".join(f"{name} {ms:.1f}" for name, ms in parts)


def _breakdown_cell(b: Breakdown) -> str:
    return (
        f"import {b.import_ms:.1f} ms ({_spent(b.imports)}); first call {b.first_ms:.1f} ms "
        f"under cProfile ({_spent(b.first)}; most own time: {_spent(b.functions)})"
    )


def _mib(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024 / 1024:.2f} MiB"


def rows(measured: ColdStarts) -> list[Row]:
    """The cold-start rows of the table: time and memory against the floor, zip sizes."""
    floor = measured.runs["floor"]
    floor_ms, floor_peak = floor.median("total_ms"), floor.median("peak_mib")
    result: list[Row] = []
    described = {
        "authorizer": "Authorizer function, init + first decision (API key)",
        "api": "APIHandler function, init + first GET /user/me, decision cached (one read)",
        "api, fresh decision": "APIHandler function, init + first GET /user/me, decision made "
        "for it (no read)",
        "authorizer, vendored": "Authorizer function, botocore vendored in the zip",
        "api, vendored": "APIHandler function, botocore vendored in the zip",
    }
    for name, what in described.items():
        runs = measured.runs[name]
        total, peak = runs.median("total_ms"), runs.median("peak_mib")
        ratio, memory_ratio = total / floor_ms, peak / floor_peak
        pairs = statistics.median(
            a.total_ms / f.total_ms for a, f in zip(runs.runs, floor.runs, strict=True)
        )
        judged = "vendored" not in name
        result.append(
            Row(
                measure=f"cold start from deployment.zip: {what}",
                median=f"{total:.1f} ms (init {runs.median('init_ms'):.1f} + first "
                f"{runs.median('first_ms'):.1f})",
                floor=f"{floor_ms:.1f} ms (init {floor.median('init_ms'):.1f} + GetItem "
                f"{floor.median('first_ms'):.1f})",
                ratio=f"{ratio:.2f} (pairs: {pairs:.2f})",
                target=f"ratio ≤ {MAX_TIME_RATIO}" if judged else "— (the alternative)",
                result=("pass" if ratio <= MAX_TIME_RATIO else "miss") if judged else "—",
            )
        )
        result.append(
            Row(
                measure=f"cold start from deployment.zip: {what}: peak memory",
                median=f"{peak:.1f} MiB",
                floor=f"{floor_peak:.1f} MiB",
                ratio=f"{memory_ratio:.2f}",
                target=f"ratio ≤ {MAX_MEMORY_RATIO}" if judged else "— (the alternative)",
                result=("pass" if memory_ratio <= MAX_MEMORY_RATIO else "miss") if judged else "—",
            )
        )
    floor_breakdown = measured.breakdowns.get("floor")
    for name in BROKEN_DOWN:
        found = measured.breakdowns.get(name)
        if found is None or name == "floor" or floor_breakdown is None:
            continue
        result.append(
            Row(
                measure=f"cold start breakdown, one run: {described[name]}",
                median=_breakdown_cell(found),
                floor=_breakdown_cell(floor_breakdown),
            )
        )
    for name, what in (("shipped", "as shipped"), ("vendored", "botocore vendored")):
        size, files = measured.sizes[name]
        judged = name == "shipped"
        result.append(
            Row(
                measure=f"deployment.zip, {what}",
                median=f"{_mib(size)} ({files} files)",
                floor=f"{_mib(measured.sizes['floor'][0])} (the floor's zip)",
                target=f"≤ {MAX_ZIP_MIB:g} MiB" if judged else "— (the alternative)",
                result=("pass" if size <= MAX_ZIP_MIB * 1024 * 1024 else "miss") if judged else "—",
            )
        )
    return result
