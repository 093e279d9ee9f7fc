"""`spark backup` / `spark restore`: round trip, and a restore that refuses bad archives and keeps newer files."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
from pathlib import Path

import pytest
from conftest import Runner

from spark.errors import InputError
from spark.ops.backup import MANIFEST, create_backup, restore_backup

RUN_ID = "bt-1700000000000-0123abcd"


def _seed(home: Path) -> dict[str, bytes]:
    """Evidence and audit files as the service writes them; returns {relative path: content}."""
    files = {
        f"evidence/backtest/run_{RUN_ID}.json": json.dumps({"runs": [{"id": RUN_ID, "status": "done"}]}).encode(),
        f"evidence/backtest/{RUN_ID}.json": json.dumps({"stats": {"total_trades": 12}}).encode() * 50,
        "logs/audit/backtest_20261120.log": b'{"action":"start","success":true}\n',
        "logs/audit/backtest_20261121.log": b'{"action":"cancel","success":false,"error":"unauthorized"}\n',
    }
    for rel, data in files.items():
        path = home / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (1_700_000_000, 1_700_000_000))
    return files


def _dirs(home: Path) -> tuple[Path, Path]:
    return home / "evidence", home / "logs" / "audit"


def _rewrite(src: Path, dst: Path, change) -> None:
    """Copy a backup member by member, letting ``change(info, data)`` return (info, data) or None to drop it."""
    with tarfile.open(src, "r:gz") as tin, tarfile.open(dst, "w:gz", format=tarfile.PAX_FORMAT) as tout:
        for info in tin.getmembers():
            data = tin.extractfile(info).read() if info.isreg() else b""
            out = change(info, data)
            if out is not None:
                info, data = out
                info.size = len(data)
                tout.addfile(info, io.BytesIO(data))


def test_round_trip_restores_missing_files_byte_for_byte(home: Path, spark_here: Runner) -> None:
    files = _seed(home)
    done = spark_here("backup", "--out", "b.tar.gz")
    assert done.returncode == 0, done.stderr
    assert "4 files" in done.stdout
    for rel in files:
        (home / rel).unlink()
    done = spark_here("restore", "b.tar.gz")
    assert done.returncode == 0, done.stderr
    assert "4 restored" in done.stdout
    for rel, data in files.items():
        assert (home / rel).read_bytes() == data
        assert (home / rel).stat().st_mtime == 1_700_000_000
    again = spark_here("restore", "b.tar.gz")
    assert "0 restored, 0 overwritten, 4 unchanged" in again.stdout
    assert not list(home.rglob("*.tmp")), "no temp files left behind"


def test_manifest_holds_a_sha256_per_file(home: Path) -> None:
    files = _seed(home)
    report = create_backup(*_dirs(home), home / "b.tar.gz")
    assert (report.files, report.bytes) == (4, sum(len(d) for d in files.values()))
    with tarfile.open(home / "b.tar.gz", "r:gz") as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile(MANIFEST).read())
    assert names[-1] == MANIFEST
    expected = {rel.replace("logs/", "", 1): hashlib.sha256(d).hexdigest() for rel, d in files.items()}
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == expected


def test_newer_files_are_kept_unless_forced(home: Path, spark_here: Runner) -> None:
    files = _seed(home)
    assert spark_here("backup", "--out", "b.tar.gz").returncode == 0
    run_file = home / f"evidence/backtest/run_{RUN_ID}.json"
    run_file.write_bytes(b'{"runs": []}')  # changed after the backup: newer
    old_file = home / f"evidence/backtest/{RUN_ID}.json"
    old_file.write_bytes(b"stale")
    os.utime(old_file, (1_600_000_000, 1_600_000_000))  # older than the backup's copy
    done = spark_here("restore", "b.tar.gz")
    assert done.returncode == 0, done.stderr
    assert run_file.read_bytes() == b'{"runs": []}'
    assert old_file.read_bytes() == files[f"evidence/backtest/{RUN_ID}.json"]
    assert "1 newer on disk kept" in done.stdout and "--force" in done.stdout
    forced = spark_here("restore", "b.tar.gz", "--force")
    assert forced.returncode == 0, forced.stderr
    assert run_file.read_bytes() == files[f"evidence/backtest/run_{RUN_ID}.json"]


def test_dry_run_writes_nothing_and_only_limits_the_roots(home: Path, spark_here: Runner) -> None:
    files = _seed(home)
    assert spark_here("backup", "--out", "b.tar.gz").returncode == 0
    for rel in files:
        (home / rel).unlink()
    dry = spark_here("restore", "b.tar.gz", "--dry-run")
    assert dry.returncode == 0 and "4 would be restored" in dry.stdout
    assert not any((home / rel).exists() for rel in files)
    assert spark_here("restore", "b.tar.gz", "--only", "evidence").returncode == 0
    assert all((home / rel).exists() == rel.startswith("evidence/") for rel in files)


def _damaged(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-200])


def _not_gzip(path: Path) -> None:
    path.write_bytes(b"hello, not an archive\n")


@pytest.mark.parametrize("spoil", [_damaged, _truncated, _not_gzip])
def test_a_damaged_archive_is_refused_and_nothing_written(home: Path, spark_here: Runner, spoil) -> None:
    files = _seed(home)
    assert spark_here("backup", "--out", "b.tar.gz").returncode == 0
    for rel in files:
        (home / rel).unlink()
    spoil(home / "b.tar.gz")
    done = spark_here("restore", "b.tar.gz")
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1 and "b.tar.gz" in done.stderr
    assert "Traceback" not in done.stderr
    assert not any((home / rel).exists() for rel in files)


def _tamper_content(info, data):
    return (info, data.replace(b"true", b"fals")) if info.name.startswith("audit/") else (info, data)


def _drop_member(info, data):
    return None if info.name.startswith("evidence/backtest/run_") else (info, data)


def _unlisted(src: Path, dst: Path) -> None:
    """The archive plus a member its manifest does not list."""
    with tarfile.open(src, "r:gz") as tar:
        members = [(i, tar.extractfile(i).read()) for i in tar.getmembers()]
    with tarfile.open(dst, "w:gz") as tar:
        extra = tarfile.TarInfo("evidence/backtest/extra.json")
        extra.size = 2
        tar.addfile(extra, io.BytesIO(b"{}"))
        for info, data in members:
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("case", ["content", "missing", "unlisted"])
def test_a_tampered_archive_is_refused(home: Path, case: str) -> None:
    _seed(home)
    create_backup(*_dirs(home), home / "b.tar.gz")
    bad = home / "bad.tar.gz"
    if case == "content":
        _rewrite(home / "b.tar.gz", bad, _tamper_content)
    elif case == "missing":
        _rewrite(home / "b.tar.gz", bad, _drop_member)
    else:
        _unlisted(home / "b.tar.gz", bad)
    (home / "logs" / "audit" / "backtest_20261121.log").unlink()
    with pytest.raises(InputError, match="checksum mismatch|missing|not in the manifest"):
        restore_backup(bad, *_dirs(home))
    assert not (home / "logs" / "audit" / "backtest_20261121.log").exists()


def _hostile(home: Path, member: tarfile.TarInfo, data: bytes = b"x") -> Path:
    path = home / "hostile.tar.gz"
    manifest = {
        "format": "spark-backup",
        "version": 1,
        "files": [{"path": member.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "mtime": 0}],
    }
    with tarfile.open(path, "w:gz") as tar:
        member.size = len(data) if member.isreg() else 0
        tar.addfile(member, io.BytesIO(data) if member.isreg() else None)
        raw = json.dumps(manifest).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    return path


def _symlink_member() -> tarfile.TarInfo:
    info = tarfile.TarInfo("evidence/backtest/link.json")
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return info


@pytest.mark.parametrize(
    "member",
    [
        tarfile.TarInfo("evidence/../../escape.json"),
        tarfile.TarInfo("/tmp/spark-absolute.json"),
        tarfile.TarInfo("elsewhere/file.json"),
        _symlink_member(),
    ],
)
def test_unsafe_members_are_refused(home: Path, spark_here: Runner, member: tarfile.TarInfo) -> None:
    archive = _hostile(home, member)
    done = spark_here("restore", str(archive))
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (home.parent / "escape.json").exists()
    assert not Path("/tmp/spark-absolute.json").exists()
    assert not (home / "evidence").exists()


def test_restore_never_follows_a_symlinked_folder(home: Path, tmp_path_factory) -> None:
    _seed(home)
    create_backup(*_dirs(home), home / "b.tar.gz")
    outside = tmp_path_factory.mktemp("outside")
    backtest = home / "evidence" / "backtest"
    for f in backtest.iterdir():
        f.unlink()
    backtest.rmdir()
    backtest.symlink_to(outside, target_is_directory=True)
    with pytest.raises(InputError, match="symlink"):
        restore_backup(home / "b.tar.gz", *_dirs(home))
    assert not list(outside.iterdir())


def test_backup_skips_symlinks_and_temp_files(home: Path, tmp_path_factory) -> None:
    _seed(home)
    secret = tmp_path_factory.mktemp("secret") / "passwd"
    secret.write_text("root")
    (home / "evidence" / "backtest" / "leak.json").symlink_to(secret)
    (home / "evidence" / "backtest" / ".run_x.json.abc.tmp").write_text("{")
    create_backup(*_dirs(home), home / "b.tar.gz")
    with tarfile.open(home / "b.tar.gz", "r:gz") as tar:
        names = tar.getnames()
    assert not any("leak" in n or n.endswith(".tmp") for n in names)
    assert len(names) == 5


def test_backup_bad_input_is_one_line(home: Path, spark_here: Runner) -> None:
    empty = spark_here("backup", "--out", "b.tar.gz")
    assert empty.returncode != 0 and "nothing to back up" in empty.stderr
    assert len(empty.stderr.strip().splitlines()) == 1
    _seed(home)
    assert spark_here("backup", "--out", "b.tar.gz").returncode == 0
    again = spark_here("backup", "--out", "b.tar.gz")
    assert again.returncode != 0 and "already exists" in again.stderr
    missing = spark_here("restore", "nope.tar.gz")
    assert missing.returncode != 0 and "no such backup" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_default_backup_name_is_timestamped(home: Path, spark_here: Runner) -> None:
    _seed(home)
    done = spark_here("backup")
    assert done.returncode == 0, done.stderr
    (archive,) = (home / "backups").glob("spark-backup-*Z.tar.gz")
    with gzip.open(archive) as stream:
        assert stream.read(1)  # a real gzip stream
    assert oct(archive.stat().st_mode & 0o777) == "0o600"


def test_the_real_command_refuses_a_damaged_archive_with_one_line(home: Path, spark: Runner) -> None:
    """Once as a separate process: exit status and stderr as an operator's shell sees them."""
    _seed(home)
    assert spark("backup", "--out", "b.tar.gz").returncode == 0
    _damaged(home / "b.tar.gz")
    done = spark("restore", "b.tar.gz")
    assert done.returncode == 2
    assert done.stderr.startswith("spark: error: ") and len(done.stderr.strip().splitlines()) == 1


def test_two_backups_a_day_into_a_folder_get_their_own_time_stamped_names(home: Path, spark_here: Runner) -> None:
    _seed(home)
    names = []
    for _ in range(3):  # the same second, quite likely: still three archives
        done = spark_here("backup", "--out", "nightly/")
        assert done.returncode == 0, done.stderr
        names.append(done.stdout.split()[1].rstrip(":"))
    archives = sorted((home / "nightly").glob("spark-backup-*.tar.gz"))
    assert len(archives) == 3 and len({a.name for a in archives}) == 3
    assert all(re.fullmatch(r"spark-backup-\d{8}T\d{6}Z(-\d+)?\.tar\.gz", a.name) for a in archives)
    assert {Path(n).name for n in names} == {a.name for a in archives}
    assert spark_here("backup", "--out", "nightly").returncode == 0  # an existing folder, without the slash
    assert len(list((home / "nightly").glob("spark-backup-*.tar.gz"))) == 4
    for archive in archives:
        assert spark_here("restore", str(archive), "--dry-run").returncode == 0
