"""crpack's local runner: runs a Clean Rooms PySpark entry point the way the service does.

Embedded in the crpack binary (crates/crpack-runner/src/harness.py) and written to a temporary file for each
run. Usage:

    python harness.py SPEC.json RESULT.json

SPEC.json (written by crpack):
    {"entry_point": str, "additional": str|null, "tables": {name: path},
     "parameters": {name: str}|null, "out_dir": str, "preview_rows": int,
     "work_dir": str, "verbose": bool}

RESULT.json (written here, exactly one JSON document; stdout is left to Spark and the script):
    {"ok": true, "results": [{"name", "rows", "columns", "path", "preview"}], "warnings": [...]}
    {"ok": false, "warnings": [...], "error": {"kind": "contract", "code", "message"}}
    {"ok": false, "warnings": [...], "error": {"kind": "script", "message", "traceback"}}
    {"ok": false, "warnings": [...], "error": {"kind": "other", "message"}}

Contract codes: ENTRYPOINT_NOT_FOUND, ENTRYPOINT_SIGNATURE, INVALID_RETURN, INVALID_RESULT,
UNDECLARED_TABLE. Logs (Spark's and ours) go to stderr.
"""

import ast
import datetime
import decimal
import importlib.util
import inspect
import json
import os
import shutil
import sys
import traceback

HARNESS_FILE = os.path.abspath(__file__)
MAX_TRACEBACK_CHARS = 20000
MAX_MESSAGE_CHARS = 2000
MAX_CELL_CHARS = 200


def log(message):
    print("crpack-runner: " + message, file=sys.stderr, flush=True)


class ContractError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class InputError(Exception):
    """The run cannot start (unreadable sample data, a broken artifact): not the script's fault."""


class UndeclaredTableError(KeyError):
    """Raised by referencedTables for a table the template does not declare.

    A KeyError, as the service's plain dict raises, so `tables.get(name)` and `name in tables`
    behave the same as there."""

    def __init__(self, name, declared):
        self.table = name
        self.declared = list(declared)
        declared_text = ", ".join(self.declared) if self.declared else "none"
        self.message = (
            "the script reads table %r, but the template declares only: %s; add it to "
            "[template] referenced_tables in crpack.toml (and give it sample data)"
            % (name, declared_text)
        )
        super().__init__(self.message)

    def __str__(self):
        return self.message


class ReferencedTables(dict):
    """context["referencedTables"]: table name -> DataFrame for the declared tables."""

    def __missing__(self, key):
        raise UndeclaredTableError(key, self.keys())


# ---- helpers ----


def short(text, limit=MAX_MESSAGE_CHARS):
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def exception_message(exc):
    """One readable line for an exception; Java stack traces from Py4J are cut off."""
    text = str(exc).strip()
    try:
        from py4j.protocol import Py4JJavaError

        if isinstance(exc, Py4JJavaError):
            text = str(exc.java_exception).strip()
    except Exception:  # noqa: BLE001 - py4j missing or the JVM is gone
        pass
    lines = [line for line in text.splitlines() if line.strip()]
    if type(exc).__name__ == "PythonException" and "Traceback (most recent call last)" in text:
        # An exception in a Python worker (a UDF): its last line says what happened.
        return short("%s (in a Python UDF)" % lines[-1].strip())
    first = lines[0].strip() if lines else ""
    # Spark's AnalysisException puts the useful part on the first line; keep a little more when
    # the first line is just a header.
    if len(first) < 40 and len(lines) > 1:
        first = first + " " + lines[1].strip()
    name = type(exc).__name__
    return short("%s: %s" % (name, first) if first else name)


def user_traceback(exc):
    """The traceback without the harness's own frames at the top."""
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) == HARNESS_FILE:
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    if len(text) > MAX_TRACEBACK_CHARS:
        text = text[:MAX_TRACEBACK_CHARS] + "\n... (traceback cut)\n"
    return text


def find_undeclared(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, UndeclaredTableError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def render(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        return repr(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return short(str(value), MAX_CELL_CHARS)


def table_format(path):
    lower = path.lower()
    if lower.endswith(".csv") or lower.endswith(".csv.gz"):
        return "csv"
    if lower.endswith(".parquet") or os.path.isdir(path):
        return "parquet"
    return None


# ---- the additional artifact ----


def artifact_kind(path):
    """"zip" or "tar.gz" from the file's first bytes (names are not to be trusted), else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return None
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "tar.gz"
    return None


def check_site_packages(dirs, warnings):
    """Warns when the environment's site-packages are for another Python than this one."""
    wanted = "python%d.%d" % sys.version_info[:2]
    for d in dirs:
        version = os.path.basename(os.path.dirname(d))
        if version != wanted:
            warnings.append(
                "the venv archive was built for %s, this interpreter is %s" % (version, wanted)
            )
    return dirs


def add_import_dirs(dirs):
    import site

    before = list(sys.path)
    for d in dirs:
        site.addsitedir(d)
    added = [p for p in sys.path if p not in before]
    sys.path[:] = added + [p for p in sys.path if p not in added]
    # Python workers inherit the JVM's environment, which inherits ours.
    existing = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(added + ([existing] if existing else []))


# ---- the run ----


def start_spark(spec):
    from pyspark.sql import SparkSession

    work = spec["work_dir"]
    builder = (
        SparkSession.builder.master("local[*]")
        .appName("crpack-local-run")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.warehouse.dir", os.path.join(work, "spark-warehouse"))
        .config("spark.local.dir", os.path.join(work, "spark-local"))
        # A short-lived JVM: the C1 compiler and the serial collector start jobs much faster.
        .config(
            "spark.driver.extraJavaOptions",
            "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Dderby.system.home=" + os.path.join(work, "derby"),
        )
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN" if spec.get("verbose") else "ERROR")
    return spark


def read_tables(spark, tables):
    frames = ReferencedTables()
    for name, path in tables.items():
        fmt = table_format(path)
        try:
            if fmt == "csv":
                df = spark.read.option("header", "true").option("inferSchema", "true").csv(path)
            elif fmt == "parquet":
                df = spark.read.parquet(path)
            else:
                raise InputError(
                    "sample data for table %r: %s is neither .csv nor .parquet" % (name, path)
                )
        except InputError:
            raise
        except Exception as e:  # noqa: BLE001
            raise InputError(
                "cannot read the sample data of table %r from %s: %s" % (name, path, exception_message(e))
            )
        frames[name] = df
    return frames


def load_entrypoint(path):
    name = os.path.splitext(os.path.basename(path))[0] or "entrypoint_module"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InputError("cannot load %s as a Python module" % path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def precheck(path):
    """What can be told from the source before Spark starts (seconds saved on the commonest
    mistakes). Inconclusive cases are left to the checks after the module has run."""
    shown = os.path.basename(path)
    with open(path, "rb") as f:
        source = f.read()
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as e:
        raise ScriptFailure(e, "while loading %s" % shown)
    star_import = any(
        isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names) for n in ast.walk(tree)
    )
    functions = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if b"entrypoint" not in source and not star_import:
        hint = " (it defines: %s)" % ", ".join(functions) if functions else ""
        raise ContractError(
            "ENTRYPOINT_NOT_FOUND",
            "%s defines no function named `entrypoint`%s; Clean Rooms calls "
            "`def entrypoint(context)`, spelled exactly so" % (shown, hint),
        )
    # A single plain `def entrypoint(...)` and no other binding of the name: check its arguments.
    bindings = []
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == "entrypoint":
            bindings.append(n)
        elif isinstance(n, ast.Name) and n.id == "entrypoint" and isinstance(n.ctx, (ast.Store, ast.Del)):
            bindings.append(n)
        elif isinstance(n, (ast.Import, ast.ImportFrom)) and any(
            (a.asname or a.name.split(".")[0]) == "entrypoint" for a in n.names
        ):
            bindings.append(n)
        elif isinstance(n, ast.Global) and "entrypoint" in n.names:
            bindings.append(n)
    if star_import or len(bindings) != 1:
        return
    fn = bindings[0]
    if not isinstance(fn, ast.FunctionDef) or fn.decorator_list or fn not in tree.body:
        return
    a = fn.args
    positional = len(a.posonlyargs) + len(a.args)
    required = positional - len(a.defaults)
    kw_required = [k.arg for k, d in zip(a.kwonlyargs, a.kw_defaults) if d is None]
    if (positional >= 1 or a.vararg) and required <= 1 and not kw_required:
        return
    raise ContractError(
        "ENTRYPOINT_SIGNATURE",
        "`def entrypoint(%s)` in %s cannot be called with one argument; Clean Rooms calls "
        "entrypoint(context), so define `def entrypoint(context)`" % (ast.unparse(a), shown),
    )


def check_entrypoint(module, path):
    shown = os.path.basename(path)
    fn = getattr(module, "entrypoint", None)
    if fn is None or not callable(fn):
        functions = sorted(
            n for n, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == module.__name__
        )
        hint = " (it defines: %s)" % ", ".join(functions) if functions else ""
        what = "defines no function named `entrypoint`" if fn is None else "has an `entrypoint` that is not a function"
        raise ContractError(
            "ENTRYPOINT_NOT_FOUND",
            "%s %s%s; Clean Rooms calls `def entrypoint(context)`, spelled exactly so"
            % (shown, what, hint),
        )
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return fn
    try:
        sig.bind(object())
    except TypeError:
        raise ContractError(
            "ENTRYPOINT_SIGNATURE",
            "`entrypoint%s` in %s cannot be called with one argument; Clean Rooms calls "
            "entrypoint(context), so define `def entrypoint(context)`" % (sig, shown),
        )
    return fn


def check_return(value):
    if not isinstance(value, dict):
        raise ContractError(
            "INVALID_RETURN",
            "entrypoint returned %s; return a dict {\"results\": {name: DataFrame}}" % type_name(value),
        )
    if "results" not in value:
        raise ContractError(
            "INVALID_RETURN",
            "entrypoint returned a dict without a \"results\" key (keys: %s); return "
            "{\"results\": {name: DataFrame}}" % ", ".join(repr(k) for k in value.keys()),
        )
    results = value["results"]
    if not isinstance(results, dict):
        raise ContractError(
            "INVALID_RETURN",
            "entrypoint returned \"results\" as %s; it must be a dict of output name to DataFrame"
            % type_name(results),
        )
    return results


def type_name(value):
    t = type(value)
    module = t.__module__
    return t.__qualname__ if module == "builtins" else "%s.%s" % (module, t.__qualname__)


def check_results(results):
    from pyspark.sql import DataFrame

    checked = []
    for key, df in results.items():
        if not isinstance(key, str) or not key or key in (".", "..") or "/" in key or "\\" in key:
            raise ContractError(
                "INVALID_RESULT",
                "results key %r is not a usable output name; each key names an output folder, "
                "use a plain string like \"output1\"" % (key,),
            )
        if not isinstance(df, DataFrame):
            raise ContractError(
                "INVALID_RESULT",
                "results[%r] is a %s, not a Spark DataFrame; Clean Rooms writes only DataFrames "
                "(convert it with context[\"sparkSession\"].createDataFrame(...))" % (key, type_name(df)),
            )
        checked.append((key, df))
    return checked


class ScriptFailure(Exception):
    def __init__(self, exc, where=None):
        super().__init__(str(exc))
        self.exc = exc
        self.where = where


def write_results(spark, results, out_dir, preview_rows):
    written = []
    for name, df in results:
        path = os.path.join(out_dir, name)
        try:
            df = df.persist()
            df.write.mode("overwrite").parquet(path)
            rows = df.count()
            preview = df.take(preview_rows) if preview_rows > 0 else []
            columns = list(df.columns)
            df.unpersist()
        except Exception as e:  # noqa: BLE001 - Spark is lazy: the script's errors surface here
            raise ScriptFailure(e, "while computing result %r" % name)
        written.append(
            {
                "name": name,
                "rows": rows,
                "columns": columns,
                "path": path,
                "preview": [[render(v) for v in row] for row in preview],
            }
        )
    return written


def run(spec, warnings):
    entry_point = spec["entry_point"]
    additional = spec.get("additional")
    work = spec["work_dir"]
    precheck(entry_point)
    zip_path = None
    if spec.get("site_packages"):
        # A venv archive crpack unpacked as environment/, as Spark does with #environment.
        add_import_dirs(check_site_packages(spec["site_packages"], warnings))
    elif additional:
        kind = artifact_kind(additional)
        if kind == "zip":
            zip_path = additional
            if not additional.lower().endswith(".zip"):
                # addPyFile ships only .zip/.egg/.jar files to the Python workers.
                zip_path = os.path.join(work, "additional.zip")
                shutil.copyfile(additional, zip_path)
            add_import_dirs([zip_path])
        elif kind == "tar.gz":
            # crpack unpacks environments itself (refusing members that would leave it).
            raise InputError("the environment %s was not unpacked by crpack" % additional)
        else:
            raise InputError("the additional artifact %s is neither a zip nor a venv-pack .tar.gz" % additional)

    spark = start_spark(spec)
    try:
        if zip_path:
            spark.sparkContext.addPyFile(zip_path)
        tables = read_tables(spark, spec["tables"])
        context = {"sparkSession": spark, "referencedTables": tables}
        if spec.get("parameters") is not None:
            context["analysisParameters"] = dict(spec["parameters"])

        try:
            module = load_entrypoint(entry_point)
        except BaseException as e:  # noqa: BLE001 - SystemExit too: the job would fail
            if isinstance(e, KeyboardInterrupt):
                raise
            raise ScriptFailure(e, "while loading %s" % os.path.basename(entry_point))
        fn = check_entrypoint(module, entry_point)
        try:
            value = fn(context)
        except BaseException as e:  # noqa: BLE001
            if isinstance(e, KeyboardInterrupt):
                raise
            undeclared = find_undeclared(e)
            if undeclared is not None:
                raise ContractError("UNDECLARED_TABLE", undeclared.message)
            raise ScriptFailure(e)
        results = check_results(check_return(value))
        if not results:
            warnings.append("entrypoint returned no results: the job would write nothing")
        extra = [k for k in value.keys() if k != "results"]
        if extra:
            warnings.append(
                "entrypoint's return value has keys besides \"results\" (%s); Clean Rooms expects only \"results\""
                % ", ".join(repr(k) for k in extra)
            )
        return write_results(spark, results, spec["out_dir"], int(spec.get("preview_rows", 10)))
    finally:
        try:
            spark.stop()
        except Exception:  # noqa: BLE001
            pass


def main(argv):
    if len(argv) != 3:
        print("usage: harness.py SPEC.json RESULT.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    warnings = []
    try:
        results = run(spec, warnings)
        doc = {"ok": True, "results": results}
    except ContractError as e:
        doc = {"ok": False, "error": {"kind": "contract", "code": e.code, "message": e.message}}
    except ScriptFailure as f:
        exc = f.exc
        message = exception_message(exc)
        if f.where and message.endswith(")"):
            message = "%s, %s)" % (message[:-1], f.where)
        elif f.where:
            message = "%s (%s)" % (message, f.where)
        doc = {"ok": False, "error": {"kind": "script", "message": message, "traceback": user_traceback(exc)}}
    except InputError as e:
        doc = {"ok": False, "error": {"kind": "other", "message": str(e)}}
    except BaseException as e:  # noqa: BLE001 - anything else is the runner's problem
        traceback.print_exc(file=sys.stderr)
        doc = {"ok": False, "error": {"kind": "other", "message": "the local runner failed: " + exception_message(e)}}
    for w in warnings:
        log("warning: " + w)
    doc["warnings"] = warnings
    tmp = argv[2] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    os.replace(tmp, argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
