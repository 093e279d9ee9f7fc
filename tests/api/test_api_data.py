"""``POST /api/data`` (the write plugin's upload) and ``GET /api/data`` (the data directory listed): every status,
the per-route body limit, the mutations rate bucket, audit lines without content, nothing half-written left behind,
and a real Hypercorn server for multipart bodies on a keep-alive connection."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from apikit import TOKEN, admin, audit_lines, served, wait_until
from werkzeug.datastructures import FileStorage

from spark.api import create_app
from spark.api.data import OFF_PROCESS_BYTES, off_process
from spark.system import open_system

DATA = "/api/data"
SMALL = b"timestamp,open,high,low,close,volume\n1509836520000,1,2,0.5,1.5,10\n1509836580000,1.5,2,1,1,0\n"
CSV = {"Content-Type": "text/csv"}


def data_files(settings: Any) -> list[str]:
    """Everything in the data directory, hidden files included (a temp file left behind would show)."""
    folder = Path(settings.data_dir)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def seed(folder: Path, **files: bytes | Path) -> None:
    """Put files into the data directory (bytes, or a file to copy) before a test's requests."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        name = name.replace("_csv", ".csv")
        if isinstance(content, Path):
            shutil.copy(content, folder / name)
        else:
            (folder / name).write_bytes(content)


def goog_yahoo(data_dir: Path) -> bytes:
    rows = [line.split(",") for line in (data_dir / "GOOG.csv").read_text().splitlines()[1:]]
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    lines += [f"{d},{o},{h},{lo},{c},{float(c) / 2!r},{v}" for d, o, h, lo, c, v in rows]
    return ("\n".join(lines) + "\n").encode()


async def test_a_raw_csv_upload_is_stored_listed_and_audited_without_its_content(
    client: Any, settings: Any, data_dir: Path
) -> None:
    body = goog_yahoo(data_dir)
    response = await client.post(f"{DATA}?name=GOOG_Y.csv", data=body, headers=admin(**CSV))
    assert response.status_code == 201, await response.get_data()
    described = await response.get_json()
    assert (Path(settings.data_dir) / "GOOG_Y.csv").read_bytes() == body
    assert data_files(settings) == ["GOOG_Y.csv"]  # no temp file left
    assert {k: described[k] for k in ("name", "bytes", "bars", "timeframe", "symbol", "format", "volume")} == {
        "name": "GOOG_Y.csv",
        "bytes": len(body),
        "bars": 2148,
        "timeframe": "1d",
        "symbol": "GOOG_Y",
        "format": "yahoo",
        "volume": "present",
    }
    assert (described["start"], described["end"]) == (1092873600000, 1362096000000)
    assert isinstance(described["modifiedAt"], int) and described["error"] is None
    listing = await (await client.get(DATA)).get_json()
    assert listing == {"files": [described], "total": 1}
    line = audit_lines(settings)[-1]
    assert (line["action"], line["success"], line["user"], line["id"]) == ("data.upload", True, "admin", None)
    assert line["payload"] == {"name": "GOOG_Y.csv", "bytes": len(body), "replace": False}
    text = json.dumps(audit_lines(settings))
    assert "2004-08-19" not in text and TOKEN not in text  # never the content, never the token


async def test_an_uploaded_file_feeds_a_run_and_adjusted_is_checked_against_it(
    client: Any, settings: Any, data_dir: Path
) -> None:
    await client.post(f"{DATA}?name=y.csv", data=goog_yahoo(data_dir), headers=admin(**CSV))
    seed(Path(settings.data_dir), GOOG_csv=data_dir / "GOOG.csv")
    feed = {"name": "csv", "args": {"path": "y.csv", "adjusted": True}}
    response = await client.post("/api/backtest/start", json={"feed": feed}, headers=admin())
    assert response.status_code == 201
    feed = {"name": "csv", "args": {"path": "GOOG.csv", "adjusted": True}}
    response = await client.post("/api/backtest/start", json={"feed": feed}, headers=admin())
    assert response.status_code == 400
    assert (await response.get_json())["field"] == "feed.args.adjusted"


async def test_a_multipart_upload_takes_a_safe_name_from_the_file_name(client: Any, settings: Any) -> None:
    files = {"file": FileStorage(stream=io.BytesIO(SMALL), filename="My Prices (1).CSV", content_type="text/csv")}
    response = await client.post(DATA, files=files, headers=admin())
    assert response.status_code == 201, await response.get_data()
    assert (await response.get_json())["name"] == "My_Prices_1_.csv"
    assert (Path(settings.data_dir) / "My_Prices_1_.csv").read_bytes() == SMALL
    files = {"file": FileStorage(stream=io.BytesIO(SMALL), filename="whatever.csv", content_type="text/csv")}
    response = await client.post(f"{DATA}?name=chosen.csv", files=files, headers=admin())
    assert (await response.get_json())["name"] == "chosen.csv"  # ?name= wins over the file name


async def test_no_overwrite_without_replace(client: Any, settings: Any) -> None:
    assert (await client.post(f"{DATA}?name=a.csv", data=SMALL, headers=admin(**CSV))).status_code == 201
    other = SMALL.replace(b"1.5,10", b"1.5,99")
    response = await client.post(f"{DATA}?name=a.csv", data=other, headers=admin(**CSV))
    assert response.status_code == 409
    assert (await response.get_json())["field"] == "name"
    assert (Path(settings.data_dir) / "a.csv").read_bytes() == SMALL
    response = await client.post(f"{DATA}?name=a.csv&replace=true", data=other, headers=admin(**CSV))
    assert response.status_code == 201
    assert (Path(settings.data_dir) / "a.csv").read_bytes() == other
    assert data_files(settings) == ["a.csv"]
    lines = [x for x in audit_lines(settings) if x["action"] == "data.upload"]
    assert [(x["success"], x["payload"]["name"]) for x in lines] == [(True, "a.csv"), (False, "a.csv"), (True, "a.csv")]
    assert lines[1]["error"].startswith("conflict") and lines[2]["payload"]["replace"] is True


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b"hello,world\n1,2\n", "line 1: unsupported header"),
        (SMALL.replace(b"1509836580000,1.5,2,1,1,0", b"1509836580000,1.5,1,1,1,0"), "line 3: high 1 below"),
        (SMALL + b"1509836640000,1,x,1,1,1\n", "line 4: 'x' is not a number (column high)"),
        (b"timestamp,open,high,low,close\n\xff\xfe\n", "line 2: not UTF-8"),
    ],
)
async def test_a_bad_file_is_400_naming_the_line_and_nothing_stays(
    client: Any, settings: Any, content: bytes, line: str
) -> None:
    response = await client.post(f"{DATA}?name=bad.csv", data=content, headers=admin(**CSV))
    assert response.status_code == 400
    doc = await response.get_json()
    assert doc["error"] == "bad_data" and f"bad.csv {line}" in doc["message"]
    assert data_files(settings) == []
    last = audit_lines(settings)[-1]
    assert (last["action"], last["success"], last["payload"]["name"]) == ("data.upload", False, "bad.csv")
    assert last["error"].startswith("bad_data")


@pytest.mark.parametrize(
    ("url", "headers", "body", "field"),
    [
        (DATA, CSV, SMALL, "name"),  # a raw body needs ?name=
        (f"{DATA}?name=../x.csv", CSV, SMALL, "name"),
        (f"{DATA}?name=.x.csv", CSV, SMALL, "name"),
        (f"{DATA}?name=x.txt", CSV, SMALL, "name"),
        (f"{DATA}?name=a%2Fb.csv", CSV, SMALL, "name"),
        (f"{DATA}?name=x.csv&replace=yes", CSV, SMALL, "replace"),
        (f"{DATA}?name=x.csv&force=1", CSV, SMALL, "force"),
        (f"{DATA}?name=x.csv", {"Content-Type": "application/json"}, SMALL, "Content-Type"),
        (f"{DATA}?name=x.csv", {}, SMALL, "Content-Type"),
        (f"{DATA}?name=x.csv", CSV, b"", "file"),
        (f"{DATA}?name=x.csv", {"Content-Type": "multipart/form-data"}, SMALL, "Content-Type"),
        (f"{DATA}?name=x.csv", {"Content-Type": "multipart/form-data; boundary=XX"}, b"junk", "file"),
        (
            DATA,
            {"Content-Type": "multipart/form-data; boundary=XX"},
            b'--XX\r\nContent-Disposition: form-data; name="other"\r\n\r\nabc\r\n--XX--\r\n',
            "file",
        ),
        (
            DATA,
            {"Content-Type": "multipart/form-data; boundary=XX"},
            b'--XX\r\nContent-Disposition: form-data; name="file"; filename="p.txt"\r\n\r\nabc\r\n--XX--\r\n',
            "file",
        ),
    ],
)
async def test_bad_requests_are_400_naming_the_field(
    client: Any, settings: Any, url: str, headers: dict[str, str], body: bytes, field: str
) -> None:
    response = await client.post(url, data=body, headers=admin(**headers))
    assert response.status_code == 400
    assert (await response.get_json())["field"] == field
    assert data_files(settings) == []
    assert audit_lines(settings)[-1]["success"] is False


async def test_the_upload_limit_is_its_own_setting_and_applies_to_this_route_only(make_settings: Any) -> None:
    settings = make_settings(max_body_bytes=1000, max_upload_bytes=5000)
    rows = b"".join(f"{1509836520000 + 60_000 * i},1,2,0.5,1.5,10\n".encode() for i in range(60))
    body = b"timestamp,open,high,low,close,volume\n" + rows
    assert 1000 < len(body) < 5000
    async with open_system(settings) as running:
        client = create_app(running).test_client()
        response = await client.post(f"{DATA}?name=mid.csv", data=body, headers=admin(**CSV))
        assert response.status_code == 201  # over max_body_bytes, within max_upload_bytes
        response = await client.post(
            "/api/backtest/start", data=b" " * len(body), headers=admin(**{"Content-Type": "application/json"})
        )
        assert response.status_code == 413  # other routes keep max_body_bytes
        big = body + rows * 2
        length = {"Content-Length": str(len(big))}  # as a real client sends it (the test client does not)
        response = await client.post(f"{DATA}?name=big.csv", data=big, headers=admin(**CSV, **length))
        assert response.status_code == 413 and response.headers["Connection"] == "close"
        response = await client.post(f"{DATA}?name=big2.csv", data=big, headers=admin(**CSV))
        assert response.status_code == 413  # no length given: refused once the read passes the limit
        assert data_files(settings) == ["mid.csv"]
        line = audit_lines(settings)[-2]
        assert (line["action"], line["success"], line["payload"]) == (
            "data.upload",
            False,
            {"name": "big.csv", "bytes": len(big)},
        )
        assert line["error"].startswith("too_large")


async def test_without_the_token_nothing_is_stored_and_the_refusal_is_audited(client: Any, settings: Any) -> None:
    for headers in ({}, {"x-admin-token": "wrong"}):
        response = await client.post(f"{DATA}?name=x.csv", data=SMALL, headers={**CSV, **headers})
        assert response.status_code == 401 and "WWW-Authenticate" in response.headers
    assert data_files(settings) == []
    assert [(x["action"], x["success"], x["user"]) for x in audit_lines(settings)] == [
        ("data.upload", False, "anonymous")
    ] * 2


async def test_uploads_have_their_own_rate_bucket(make_settings: Any) -> None:
    settings = make_settings(mutation_rate_limit_per_minute=2, rate_limit_per_minute=1)
    async with open_system(settings) as running:
        client = create_app(running).test_client()
        assert (await client.post("/api/backtest/start", json={}, headers=admin())).status_code == 201
        for name in ("a.csv", "b.csv"):  # the start did not use up the mutations bucket
            assert (await client.post(f"{DATA}?name={name}", data=SMALL, headers=admin(**CSV))).status_code == 201
        response = await client.post(f"{DATA}?name=c.csv", data=SMALL, headers=admin(**CSV))
        assert response.status_code == 429 and 1 <= int(response.headers["Retry-After"]) <= 60
        assert "mutations a minute" in (await response.get_json())["message"]
        other = await client.post(
            f"{DATA}?name=c.csv", data=SMALL, headers=admin(**CSV), scope_base={"client": ("10.0.0.7", 5000)}
        )
        assert other.status_code == 201  # another address has its own budget
        assert audit_lines(settings)[-2]["error"].startswith("rate_limited")


async def test_switching_write_off_rolls_the_upload_back_and_the_list_stays(
    client: Any, system: Any, settings: Any
) -> None:
    await system.reload(replace(settings, disabled_plugins=("write",)))
    response = await client.post(f"{DATA}?name=x.csv", data=SMALL, headers=admin(**CSV))
    assert response.status_code == 404
    assert (await client.get(DATA)).status_code == 200
    await system.reload(settings)
    assert (await client.post(f"{DATA}?name=x.csv", data=SMALL, headers=admin(**CSV))).status_code == 201


async def test_an_upload_whose_audit_cannot_be_written_is_taken_back(make_settings: Any, tmp_path: Path) -> None:
    settings = make_settings()
    data = Path(settings.data_dir)
    seed(data, keep_csv=SMALL)
    async with open_system(settings) as running:
        client = create_app(running).test_client()
        settings.audit_dir.mkdir(parents=True, exist_ok=True)
        for day in (dt.datetime.now(dt.UTC), dt.datetime.now(dt.UTC) + dt.timedelta(days=1)):
            (settings.audit_dir / f"backtest_{day:%Y%m%d}.log").mkdir()  # a real fault: the log cannot be opened
        response = await client.post(f"{DATA}?name=new.csv", data=SMALL, headers=admin(**CSV))
        assert response.status_code == 503
        other = SMALL.replace(b"1.5,10", b"1.5,99")
        response = await client.post(f"{DATA}?name=keep.csv&replace=true", data=other, headers=admin(**CSV))
        assert response.status_code == 503
    assert data_files(settings) == ["keep.csv"]  # not audited: not done
    assert (data / "keep.csv").read_bytes() == SMALL


async def test_the_list_shows_broken_files_with_their_error_and_refuses_unknown_parameters(
    client: Any, settings: Any, data_dir: Path
) -> None:
    seed(
        Path(settings.data_dir),
        EURUSD_csv=data_dir / "EURUSD.csv",
        zz_csv=b"Date,Open,High,Low,Close\n2020-01-01,1,1,1,1\n2020-01-01,1,1,1,1\n",
    )
    listing = await (await client.get(DATA)).get_json()
    assert [(f["name"], f["bars"], f["timeframe"]) for f in listing["files"]] == [
        ("EURUSD.csv", 5000, "1h"),
        ("zz.csv", None, None),
    ]
    assert (
        listing["files"][1]["error"] == "zz.csv line 3: time not strictly increasing (same as or before the line above)"
    )
    response = await client.get(f"{DATA}?limit=5")
    assert response.status_code == 400 and (await response.get_json())["field"] == "limit"


async def test_multipart_uploads_over_a_real_server_on_one_keep_alive_connection(app: Any, settings: Any) -> None:
    async with served(app) as url, httpx.AsyncClient(base_url=url, headers=admin()) as http:
        for i in range(3):
            files = {"file": (f"run {i}.csv", SMALL, "text/csv")}
            response = await http.post(DATA, files=files)
            assert response.status_code == 201, response.text
        response = await http.post(DATA, files={"file": ("run 0.csv", SMALL, "text/csv")})
        assert response.status_code == 409
        big = big_file(20_000)  # well over the multipart parser's 64 KiB read size, below OFF_PROCESS_BYTES
        assert 200_000 < len(big) < OFF_PROCESS_BYTES
        response = await http.post(DATA, files={"file": ("big.csv", big, "text/csv")})
        assert response.status_code == 201, response.text
        assert response.json()["bars"] == 20_000
        response = await http.post(DATA, files={"file": ("bad.csv", b"nope\n", "text/csv")})
        assert response.status_code == 400 and "bad.csv line 1" in response.json()["message"]
        listing = (await http.get(DATA)).json()
        assert [f["name"] for f in listing["files"]] == ["big.csv", "run_0.csv", "run_1.csv", "run_2.csv"]
    assert data_files(settings) == ["big.csv", "run_0.csv", "run_1.csv", "run_2.csv"]


def big_file(rows: int, bad_row: int | None = None) -> bytes:
    """An epoch-ms file over OFF_PROCESS_BYTES (its parse goes to a worker process); ``bad_row`` holds an 'x'."""
    lines = [f"{1509836520000 + 60_000 * i},1.25,2.5,0.5,1.5,{i}\n" for i in range(rows)]
    if bad_row is not None:
        lines[bad_row] = lines[bad_row].replace(",2.5,", ",x,")
    return ("timestamp,open,high,low,close,volume\n" + "".join(lines)).encode()


async def test_big_files_are_parsed_in_a_worker_process_with_the_same_answers(client: Any, settings: Any) -> None:
    body = big_file(40_000)
    assert len(body) > OFF_PROCESS_BYTES
    response = await client.post(f"{DATA}?name=big.csv", data=body, headers=admin(**CSV))
    assert response.status_code == 201, await response.get_data()
    assert (await response.get_json())["bars"] == 40_000
    response = await client.post(f"{DATA}?name=bad.csv", data=big_file(40_000, 30_000), headers=admin(**CSV))
    assert response.status_code == 400  # the DataError crossed back from the worker as it was raised
    assert (await response.get_json())["message"] == "bad.csv line 30002: 'x' is not a number (column high)"
    seed(Path(settings.data_dir), broken_csv=big_file(40_000, 5))
    listing = await (await client.get(DATA)).get_json()
    assert [(f["name"], f["bars"]) for f in listing["files"]] == [("big.csv", 40_000), ("broken.csv", None)]
    assert listing["files"][1]["error"] == "broken.csv line 7: 'x' is not a number (column high)"
    assert data_files(settings) == ["big.csv", "broken.csv"]


async def test_off_process_runs_big_work_in_another_process_and_small_work_in_the_thread() -> None:
    def both() -> tuple[int, int]:
        return off_process(OFF_PROCESS_BYTES - 1, os.getpid), off_process(OFF_PROCESS_BYTES, os.getpid)

    small, big = await trio.to_thread.run_sync(both)
    assert small == os.getpid() and big != os.getpid()


async def test_deletes_and_uploads_share_the_mutations_bucket(make_settings: Any) -> None:
    settings = make_settings(mutation_rate_limit_per_minute=2, mock_delay_s=0.05)
    async with open_system(settings) as running:
        client = create_app(running).test_client()
        assert (await client.post(f"{DATA}?name=a.csv", data=SMALL, headers=admin(**CSV))).status_code == 201
        started = await (await client.post("/api/backtest/start", json={}, headers=admin())).get_json()
        await wait_until(lambda: running.get_run(started["id"])["status"] == "done")
        assert (await client.delete(f"/api/backtest/{started['id']}", headers=admin())).status_code == 200
        response = await client.post(f"{DATA}?name=b.csv", data=SMALL, headers=admin(**CSV))
        assert response.status_code == 429  # the upload and the delete used up the bucket of 2
