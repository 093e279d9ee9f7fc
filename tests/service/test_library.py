"""The data directory: listing with a cache by (inode, mtime, size), safe upload names, atomic staged uploads."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from spark.errors import Conflict, DataError, ParamError
from spark.service.library import (
    DataLibrary,
    check_upload_name,
    stage_upload,
    upload_name_from_filename,
)

SMALL = b"timestamp,open,high,low,close,volume\n1509836520000,1,2,0.5,1.5,10\n1509836580000,1.5,2,1,1,0\n"
OTHER = b"Date;Open;High;Low;Close\n2020-01-01;1;2;0,5;1,5\n2020-01-02;1,5;2;1;1\n2020-01-03;1;1;1;1\n"


@pytest.fixture
def folder(tmp_path: Path, data_dir: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    shutil.copy(data_dir / "GOOG.csv", root / "GOOG.csv")
    shutil.copy(data_dir / "BTCUSD.csv", root / "BTCUSD.csv")
    return root


def test_list_describes_each_readable_file(folder: Path) -> None:
    (folder / "broken.csv").write_text(",Open,High,Low,Close,Volume\n2020-01-01,1,1,1,1,1\n2020-01-02,1,x,1,1,1\n")
    (folder / ".hidden.csv").write_bytes(SMALL)
    (folder / "notes.txt").write_text("not data")
    (folder / "sub.csv").mkdir()
    outside = folder.parent / "outside.csv"
    outside.write_bytes(SMALL)
    (folder / "escape.csv").symlink_to(outside)
    (folder / "alias.csv").symlink_to(folder / "BTCUSD.csv")
    listing = DataLibrary().list(folder)
    assert [f["name"] for f in listing["files"]] == ["BTCUSD.csv", "GOOG.csv", "alias.csv", "broken.csv"]
    assert listing["total"] == 4
    goog = listing["files"][1]
    assert goog == {
        "name": "GOOG.csv",
        "bytes": (folder / "GOOG.csv").stat().st_size,
        "modifiedAt": (folder / "GOOG.csv").stat().st_mtime_ns // 1_000_000,
        "bars": 2148,
        "timeframe": "1d",
        "start": 1092873600000,
        "end": 1362096000000,
        "symbol": "GOOG",
        "format": "date",
        "delimiter": ",",
        "volume": "present",
        "error": None,
    }
    broken = listing["files"][3]
    assert broken["bars"] is None and broken["format"] is None
    assert broken["error"] == "broken.csv line 3: 'x' is not a number (column High)"
    assert str(folder) not in str(listing)  # the folder's own path is never shown


def test_list_parses_a_file_again_only_when_it_changed(folder: Path) -> None:
    library = DataLibrary()
    first = library.list(folder)
    assert library.parsed == 2
    assert library.list(folder) == first and library.parsed == 2  # nothing changed: nothing parsed
    (folder / "new.csv").write_bytes(SMALL)
    assert [f["bars"] for f in library.list(folder)["files"]] == [156, 2148, 2]
    assert library.parsed == 3
    tmp = folder / ".swap"
    tmp.write_bytes(OTHER)
    os.replace(tmp, folder / "new.csv")  # replaced atomically: a new inode, whatever the mtime and size
    described = library.list(folder)["files"][2]
    assert (described["bars"], described["format"], described["delimiter"], described["volume"]) == (
        3,
        "date",
        ";",
        "absent",
    )
    assert library.parsed == 4
    (folder / "new.csv").unlink()
    assert [f["name"] for f in library.list(folder)["files"]] == ["BTCUSD.csv", "GOOG.csv"]


def test_list_of_a_missing_folder_is_empty_and_capped_lists_count_all(tmp_path: Path, folder: Path) -> None:
    assert DataLibrary().list(tmp_path / "absent") == {"files": [], "total": 0}
    capped = DataLibrary(max_files=1).list(folder)
    assert [f["name"] for f in capped["files"]] == ["BTCUSD.csv"] and capped["total"] == 2


@pytest.mark.parametrize("name", ["GOOG.csv", "a.csv", "eth-usdt_4h.v2.csv", "9" * 96 + ".csv"])
def test_safe_names(name: str) -> None:
    assert check_upload_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", ".csv", ".hidden.csv", "-x.csv", "_x.csv", "a.CSV", "a.txt", "a", "../a.csv", "a/b.csv", "a b.csv",
     "a\\b.csv", "a:b.csv", "é.csv", "a.csv\0", "9" * 97 + ".csv"],
)  # fmt: skip
def test_unsafe_names_are_refused_naming_the_field(name: str) -> None:
    with pytest.raises(ParamError) as err:
        check_upload_name(name)
    assert err.value.field == "name"


@pytest.mark.parametrize(
    ("filename", "name"),
    [
        ("GOOG.csv", "GOOG.csv"),
        ("My Data (1).CSV", "My_Data_1_.csv"),
        ("C:\\fakepath\\prices.csv", "prices.csv"),
        ("/home/me/../x.csv", "x.csv"),
        ("..hidden.csv", "hidden.csv"),
        ("données.csv", "donn_es.csv"),
    ],
)
def test_names_derived_from_a_browser_file_name(filename: str, name: str) -> None:
    assert upload_name_from_filename(filename) == name


@pytest.mark.parametrize("filename", ["prices.txt", "prices", "...csv", "é.csv", ""])
def test_file_names_that_leave_nothing_usable(filename: str) -> None:
    with pytest.raises(ParamError) as err:
        upload_name_from_filename(filename)
    assert err.value.field == "file"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_staged_upload_appears_only_on_commit_and_close_leaves_nothing(folder: Path) -> None:
    staged = stage_upload(folder, "new.csv", SMALL)
    assert not (folder / "new.csv").exists() and len(leftovers(folder)) == 1  # the hidden temp file
    assert [f["name"] for f in DataLibrary().list(folder)["files"]] == ["BTCUSD.csv", "GOOG.csv"]
    description = staged.commit()
    staged.close()
    assert (folder / "new.csv").read_bytes() == SMALL and leftovers(folder) == []
    assert description["name"] == "new.csv" and description["bytes"] == len(SMALL) and description["bars"] == 2
    assert description == DataLibrary().list(folder)["files"][2]


def test_no_overwrite_without_replace_and_a_clash_between_stage_and_commit(folder: Path) -> None:
    with pytest.raises(Conflict) as err:
        stage_upload(folder, "GOOG.csv", SMALL)
    assert err.value.status == 409 and err.value.field == "name" and "replace=true" in err.value.message
    staged = stage_upload(folder, "late.csv", SMALL)
    (folder / "late.csv").write_bytes(OTHER)  # someone else took the name meanwhile
    with pytest.raises(Conflict):
        staged.commit()
    staged.close()
    assert (folder / "late.csv").read_bytes() == OTHER and leftovers(folder) == []


def test_replace_keeps_the_old_file_until_close_and_undo_brings_it_back(folder: Path) -> None:
    old = (folder / "GOOG.csv").read_bytes()
    staged = stage_upload(folder, "GOOG.csv", SMALL, replace=True)
    staged.commit()
    assert (folder / "GOOG.csv").read_bytes() == SMALL
    staged.undo()
    staged.close()
    assert (folder / "GOOG.csv").read_bytes() == old and leftovers(folder) == []
    staged = stage_upload(folder, "GOOG.csv", SMALL, replace=True)
    staged.commit()
    staged.close()
    assert (folder / "GOOG.csv").read_bytes() == SMALL and leftovers(folder) == []
    fresh = stage_upload(folder, "fresh.csv", SMALL, replace=True)  # replace with nothing to replace
    fresh.commit()
    fresh.undo()
    fresh.close()
    assert not (folder / "fresh.csv").exists() and leftovers(folder) == []


def test_a_bad_file_is_refused_naming_its_line_and_nothing_is_written(folder: Path) -> None:
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(DataError, match=r"bad\.csv line 3: time not strictly increasing"):
        stage_upload(folder, "bad.csv", SMALL.replace(b"1509836580000", b"1509836520000"))
    with pytest.raises(DataError, match=r"bad\.csv line 1: unsupported header"):
        stage_upload(folder, "bad.csv", b"hello\n")
    with pytest.raises(DataError, match=r"bad\.csv line 2: not UTF-8"):
        stage_upload(folder, "bad.csv", b"timestamp,open,high,low,close\n\xff\n")
    assert sorted(p.name for p in folder.iterdir()) == before


def test_stale_temp_files_from_a_crash_are_swept_by_the_next_upload(folder: Path) -> None:
    stale = folder / ".upload-crashed.tmp"
    stale.write_bytes(b"half")
    os.utime(stale, (1_000_000_000, 1_000_000_000))
    recent = folder / ".upload-inflight.tmp"
    recent.write_bytes(b"in flight")
    staged = stage_upload(folder, "x.csv", SMALL)
    staged.close()
    assert not stale.exists() and recent.exists()


def test_a_missing_data_directory_is_created(tmp_path: Path) -> None:
    staged = stage_upload(tmp_path / "new" / "data", "x.csv", SMALL)
    staged.commit()
    staged.close()
    assert (tmp_path / "new" / "data" / "x.csv").read_bytes() == SMALL
