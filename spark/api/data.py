"""The data routes' HTTP side: ``GET /api/data`` (the files of the data directory, described) and how
``POST /api/data`` (a route of the write plugin, so switching ``write`` off rolls it back) reads its upload.

The listing is `spark.service.library.DataLibrary`'s, read in a worker thread; its cache (by inode, mtime and size)
lives with this app, so a list re-parses only files that changed. Parsing holds the GIL (a 1,000,000-row file for a
second or more, which would stall the event loop however it is threaded), so files from `OFF_PROCESS_BYTES` up are
parsed in a worker process (`off_process`), small ones in the thread. An upload is a raw CSV body (``Content-Type:
text/csv`` or ``text/plain``, named by ``?name=``) or ``multipart/form-data`` whose ``file`` part carries the file
(named by ``?name=``, else derived from the part's file name), as the dashboard sends it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import trio
import trio_parallel
from quart import Blueprint, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.formparser import MultiPartParser
from werkzeug.http import parse_options_header

from spark.api.wire import json_response
from spark.errors import InputError, ParamError
from spark.plugin.services import Services
from spark.service.library import (
    DataLibrary,
    check_upload_name,
    describe_file,
    summarise,
    upload_name_from_filename,
)

__all__ = [
    "OFF_PROCESS_BYTES",
    "RAW_TYPES",
    "Upload",
    "data_routes",
    "off_process",
    "read_upload",
    "summarise_off_loop",
    "upload_args",
]

OFF_PROCESS_BYTES = 1_000_000  # parsing this much holds the GIL ~20 ms; more goes to a worker process
RAW_TYPES = ("text/csv", "text/plain")
_T = TypeVar("_T")
_MAX_PARTS = 16
# A form's text fields. Werkzeug also applies it to its decoder's buffer (what is left of the last read plus the
# next 64 KiB read), so it must stay well above the read size or a file part of any size is refused.
_MAX_FIELD_BYTES = 1_048_576


def _only_args(*known: str) -> None:
    for name in request.args:
        if name not in known:
            allowed = ", ".join(known) or "none"
            raise InputError(f"unknown query parameter {name[:40]!r} (allowed: {allowed})", field=name[:40])


def off_process(size: int, fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(*args)`` from a worker thread of trio: in that thread for a small ``size``, else in a worker process
    (trio-parallel, killed if the request is cancelled). ``fn`` must be a module-level function of picklable
    arguments; its exceptions come back as they were raised."""
    if size < OFF_PROCESS_BYTES:
        return fn(*args)
    return trio.from_thread.run(partial(trio_parallel.run_sync, fn, *args, kill_on_cancel=True))


def _describe_off_loop(path: Path, name: str, st: os.stat_result) -> dict[str, Any]:
    return off_process(st.st_size, describe_file, path, name, st)


def summarise_off_loop(name: str, content: bytes) -> dict[str, Any]:
    """`spark.service.library.summarise`, a big upload parsed in a worker process (for `stage_upload`)."""
    return off_process(len(content), summarise, name, content)


def data_routes(services: Services) -> Blueprint:
    bp = Blueprint("data", __name__)
    library = DataLibrary(describe=_describe_off_loop)

    @bp.get("/api/data")
    async def list_data() -> Response:
        """``{"files": [{name, bytes, bars, timeframe, start, end, symbol, format, delimiter, volume, modifiedAt,
        error}], "total"}``, by name; a file that does not parse has its ``error`` and nulls."""
        _only_args()
        listing = await trio.to_thread.run_sync(library.list, services.settings.data_dir)
        return json_response(listing)

    return bp


@dataclass(frozen=True, slots=True, kw_only=True)
class Upload:
    """An upload's file, read off the body: its safe name and bytes."""

    name: str
    content: bytes


def upload_args() -> tuple[str | None, bool]:
    """``(?name=, ?replace=)`` of this request; InputError for another parameter or a ``replace`` other than
    ``true``/``false``. The name is checked by `read_upload`."""
    _only_args("name", "replace")
    raw = request.args.get("replace", "false")
    if raw not in ("true", "false"):
        raise ParamError(f"replace must be true or false, got {raw[:40]!r}", field="replace")
    return request.args.get("name"), raw == "true"


def read_upload(content_type: str, body: bytes, name: str | None) -> Upload:
    """The file of an upload body. Blocking (a multipart body is parsed): run it in a thread.

    Raises InputError/ParamError (400) for another content type, a broken multipart body, no ``file`` part, an
    empty file, or no usable name."""
    mimetype, options = parse_options_header(content_type)
    if mimetype in RAW_TYPES:
        if name is None:
            raise ParamError("name is required: the file name to store the CSV under (?name=prices.csv)", field="name")
        content = body
    elif mimetype == "multipart/form-data":
        content, filename = _file_part(body, options.get("boundary", ""))
        if name is None:
            if not filename:
                raise ParamError("the file part has no file name; give one with ?name=", field="file")
            name = upload_name_from_filename(filename)
    else:
        raise InputError(
            f"Content-Type must be text/csv (the file as the body) or multipart/form-data (a 'file' part), "
            f"got {content_type[:60]!r}",
            field="Content-Type",
        )
    check_upload_name(name)
    if not content or content.isspace():  # isspace stops at the first other byte: no copy of a big body
        raise ParamError("the uploaded file is empty", field="file")
    return Upload(name=name, content=content)


def _file_part(body: bytes, boundary: str) -> tuple[bytes, str]:
    if not boundary or not boundary.isascii():
        raise InputError("a multipart/form-data body needs a boundary in its Content-Type", field="Content-Type")
    parser = MultiPartParser(
        stream_factory=_in_memory, max_form_memory_size=_MAX_FIELD_BYTES, max_form_parts=_MAX_PARTS
    )
    try:
        _, files = parser.parse(io.BytesIO(body), boundary.encode("ascii"), len(body))
    except (ValueError, HTTPException) as exc:
        text = getattr(exc, "description", None) or str(exc)
        raise InputError(f"the multipart body does not parse: {str(text)[:120]}", field="file") from None
    part = files.get("file")
    if part is None:
        raise ParamError("the multipart form has no 'file' part (the CSV file)", field="file")
    return part.read(), part.filename or ""


def _in_memory(total_content_length: Any, content_type: Any, filename: Any, content_length: Any = None) -> io.BytesIO:
    """Parts stay in memory: the body is in memory already, bounded by the upload limit."""
    return io.BytesIO()
