"""Files a sweep wrote, read back: one that was changed afterwards is a ``DamagedFileError`` naming it."""

import pytest

from bdlsweep.storage.locations import Location
from bdlsweep.storage.stored_files import DamagedFileError, read_csv, read_json


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"label": "swag"', "not readable JSON"),
        (b"[1, 2]", "holds a JSON list"),
        (b"\xff\xfe{}", "not readable JSON"),
    ],
)
def test_json_that_is_not_an_object_names_the_file(tmp_path, content, problem):
    path = tmp_path / "selection.json"
    path.write_bytes(content)
    with pytest.raises(DamagedFileError, match=problem) as raised:
        read_json(Location.parse(path))
    assert str(raised.value).startswith(f"{path}: ") and "bdlsweep resume" in str(raised.value)


def test_a_table_needs_its_columns_and_an_empty_file_is_an_empty_table(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("method,K\nmap,1\n")
    assert read_csv(Location.parse(path), ["method", "K"])["K"].tolist() == [1]
    with pytest.raises(DamagedFileError, match="has no column split"):
        read_csv(Location.parse(path), ["method", "split"])
    path.write_bytes(b"\xff\xfe,")
    with pytest.raises(DamagedFileError, match="not a readable CSV table"):
        read_csv(Location.parse(path))
    path.write_text("")
    assert read_csv(Location.parse(path), ["method"]).empty
