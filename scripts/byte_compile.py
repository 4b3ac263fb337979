"""Byte-compile the deployment zips for the Lambda runtime (Python 3.13), in place.

Why: Lambda unpacks the zip into /var/task, which is read-only, so a module without a usable .pyc is compiled
again on every cold start. Both zip writers (osls and serverless-python-requirements) stamp every file with a
fixed date, which makes ordinary, timestamp-checked .pyc files stale by construction. So this step drops every
.pyc and .pyo (of any Python version) from each zip and writes one `unchecked-hash` .pyc (PEP 552) per module,
compiled by Python 3.13, which the runtime loads without looking at the source. It refuses to run with any other
Python: byte code is specific to the version that wrote it.

serverless.yml runs it (serverless-plugin-scripts) after serverless-python-requirements has added the
dependencies: for `package` and `deploy` on the service's zip, for `deploy function -f api` on api.zip. osls
builds either in .serverless/ (and then moves it to --package's directory); zips that do not exist are skipped,
and it fails when none does.

    python3.13 scripts/byte_compile.py .serverless/triggers-api.zip .serverless/api.zip
"""

import argparse
import importlib.util
import marshal
import os
import posixpath
import sys
import zipfile
from collections.abc import Sequence
from types import CodeType

RUNTIME = (3, 13)
UNCHECKED_HASH = (0b01).to_bytes(4, "little")  # PEP 552 flags: hash-based, source not checked
FILE_MODE = 0o100644  # a regular file, rw-r--r--


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zips", nargs="+", metavar="zip", help="a deployment zip to rewrite in place")
    args = parser.parse_args(argv)
    if sys.version_info[:2] != RUNTIME:
        sys.exit(f"byte-compile: the Lambda runtime is Python 3.13, this is {sys.version.split()[0]}")
    zips = [path for path in args.zips if os.path.exists(path)]
    if not zips:
        sys.exit(f"byte-compile: no zip to compile: none of {', '.join(args.zips)} exists")
    for path in zips:
        compiled, skipped = byte_compile(path)
        for line in skipped:
            print("byte-compile: not compiled (it cannot be imported either):", line)
        print("byte-compile:", compiled, "modules compiled for", sys.implementation.cache_tag, "in", path)
    return 0


def byte_compile(path: str) -> tuple[int, list[str]]:
    """Rewrite the zip at `path` without any .pyc/.pyo, plus one unchecked-hash .pyc per module that compiles.

    Returns how many modules were compiled and, for each that was not (a syntax error), "name: error".
    """
    compiled, skipped = 0, []
    temporary = path + ".tmp"
    try:
        with zipfile.ZipFile(path) as zin, zipfile.ZipFile(temporary, "w") as zout:
            for entry in zin.infolist():
                name = entry.filename
                if entry.is_dir() or "__pycache__/" in name or name.endswith((".pyc", ".pyo")):
                    continue
                source = zin.read(entry)
                _write(zout, name, entry.date_time, entry.external_attr >> 16 or FILE_MODE, source)
                if not name.endswith(".py"):
                    continue
                try:
                    code = compile(source, name, "exec", dont_inherit=True, optimize=0)
                except SyntaxError as exc:
                    skipped.append(f"{name}: {exc}")
                    continue
                _write(zout, _pyc_name(name), entry.date_time, FILE_MODE, _pyc(source, code))
                compiled += 1
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    os.replace(temporary, path)
    return compiled, skipped


def _pyc_name(source_name: str) -> str:
    """a/b.py -> a/__pycache__/b.cpython-313.pyc (this interpreter's cache tag)."""
    head, tail = posixpath.split(source_name)
    return posixpath.join(head, "__pycache__", f"{tail[:-3]}.{sys.implementation.cache_tag}.pyc")


def _pyc(source: bytes, code: CodeType) -> bytes:
    """A PEP 552 .pyc: magic number, flags, the source's hash, then the marshalled code object."""
    return importlib.util.MAGIC_NUMBER + UNCHECKED_HASH + importlib.util.source_hash(source) + marshal.dumps(code)


def _write(
    zout: zipfile.ZipFile, name: str, date_time: tuple[int, int, int, int, int, int], mode: int, data: bytes
) -> None:
    """Add one file with its date and Unix mode kept, deflated at the highest level."""
    info = zipfile.ZipInfo(name, date_time)
    info.create_system = 3  # Unix, so that external_attr holds the mode
    info.external_attr = (mode & 0xFFFF) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zout.writestr(info, data, compresslevel=9)


if __name__ == "__main__":
    raise SystemExit(main())
