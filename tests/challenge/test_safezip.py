"""Safe extraction of untrusted zips: every trick refused with a reason, nothing left behind."""

from __future__ import annotations

import stat
import zipfile

import pytest

from challenge.safezip import UnsafeZip, safe_extract


def _zip(path, entries):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            if isinstance(name, zipfile.ZipInfo):
                zf.writestr(name, data)
            else:
                zf.writestr(name, data)
    return path


def _refused(tmp_path, zpath, match, **limits):
    dest = tmp_path / "out"
    with pytest.raises(UnsafeZip, match=match):
        safe_extract(zpath, dest, **limits)
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir()] == [zpath.name]  # no temporary left over


def test_a_good_zip_is_extracted(tmp_path):
    z = _zip(tmp_path / "ok.zip", [("manifest.json", "{}"), ("modules/a.py", "x = 1\n")])
    names = safe_extract(z, tmp_path / "out")
    assert sorted(names) == ["manifest.json", "modules/a.py"]
    assert (tmp_path / "out" / "modules" / "a.py").read_text() == "x = 1\n"


@pytest.mark.parametrize("name, match", [
    ("../evil.py", "zip slip"),
    ("modules/../../evil.py", "zip slip"),
    ("/etc/evil", "absolute"),
    ("C:/evil", "absolute"),
    ("modules\\evil.py", "backslash"),
    ("modules//evil.py", "empty or '.'"),
])
def test_bad_names_are_refused(tmp_path, name, match):
    _refused(tmp_path, _zip(tmp_path / "bad.zip", [("ok.txt", "1"), (name, "x")]), match)


def test_symlink_entry_is_refused(tmp_path):
    info = zipfile.ZipInfo("modules/link.py")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    _refused(tmp_path, _zip(tmp_path / "link.zip", [(info, "/work/main/data/hidden")]), "symlink")


def test_duplicate_names_are_refused(tmp_path):
    z = tmp_path / "dup.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.py", "1")
        with pytest.warns(UserWarning):
            zf.writestr("a.py", "2")
    _refused(tmp_path, z, "more than once")


def test_too_many_files_is_refused(tmp_path):
    z = _zip(tmp_path / "many.zip", [(f"f{i}.txt", "x") for i in range(40)])
    _refused(tmp_path, z, "40 entries", max_files=32)


def test_zip_bomb_by_declared_size_is_refused(tmp_path):
    z = _zip(tmp_path / "bomb.zip", [("big.bin", b"\0" * (3 << 20))])
    assert z.stat().st_size < 64 << 10   # compresses about a thousandfold
    _refused(tmp_path, z, "more than", max_bytes=1 << 20)


def test_zip_bomb_lying_about_its_size_is_refused(tmp_path):
    z = _zip(tmp_path / "liar.zip", [("big.bin", b"\0" * (2 << 20))])
    raw = bytearray(z.read_bytes())
    # rewrite the declared uncompressed size (local header and central directory) to 10 bytes
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = raw.find(sig)
        raw[at + offset:at + offset + 4] = (10).to_bytes(4, "little")
    z.write_bytes(bytes(raw))
    _refused(tmp_path, z, "declares|corrupt", max_bytes=1 << 20)


def test_not_a_zip_is_refused(tmp_path):
    z = tmp_path / "text.zip"
    z.write_text("hello")
    _refused(tmp_path, z, "not a readable zip")
