"""Reference prediction files: the competition's probability CSV and ``.npz`` archives, read back exactly,
and every malformed one refused with what is wrong."""

import io

import numpy as np
import pytest

from bdlsweep.sweeps.reading.reference_files import is_reference_file, read_reference_file

PROBS = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4]])


def test_the_competitions_csv_reads_as_class_probabilities_for_every_test_point(tmp_path):
    path = tmp_path / "probs.csv"
    np.savetxt(path, PROBS, delimiter=",")
    found = read_reference_file(path)
    assert found.name == "probs.csv" and found.indices is None
    np.testing.assert_array_equal(found.arrays["probs"], PROBS)


def test_an_npz_of_probabilities_or_moments_reads_with_its_indices(tmp_path):
    np.savez(tmp_path / "p.npz", probs=PROBS, indices=np.array([4, 0]))
    found = read_reference_file(tmp_path / "p.npz")
    np.testing.assert_array_equal(found.arrays["probs"], PROBS)
    np.testing.assert_array_equal(found.indices, [4, 0])
    np.savez(tmp_path / "m.npz", mean=np.array([1.0, 2.0]), var=np.array([0.5, 0.25]))
    moments = read_reference_file(tmp_path / "m.npz")
    assert moments.arrays["mean"].shape == (2, 1) and moments.arrays["var"][1, 0] == 0.25


def test_a_reference_names_a_file_by_its_suffix():
    assert is_reference_file("hmc.npz") and is_reference_file("data/probs.CSV")
    assert not is_reference_file("hmc") and not is_reference_file("swag")


def _npy(array: np.ndarray) -> bytes:
    """One array in ``.npy`` format (not an archive)."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


BAD = [
    ("a.csv", lambda p: p.write_text("0.5,0.5\n0.3,x\n"), "not a table of numbers"),
    ("a.csv", lambda p: np.savetxt(p, [[0.5, 0.6], [0.5, 0.5]], delimiter=","), "row 1 sums to 1.1, not 1"),
    ("a.csv", lambda p: np.savetxt(p, [[1.5, -0.5]], delimiter=","), "finite and ≥ 0"),
    ("a.csv", lambda p: np.savetxt(p, [[1.0], [1.0]], delimiter=","), "a column per class"),
    ("a.npz", lambda p: np.savez(p, logits=PROBS), "holds ['logits']; needs probs, or mean and var"),
    ("a.npz", lambda p: np.savez(p, mean=np.ones((2, 1)), var=np.zeros((2, 1))), "var finite and > 0"),
    ("a.npz", lambda p: np.savez(p, mean=np.ones((2, 1)), var=np.ones((3, 1))), "must both be [N, D]"),
    ("a.npz", lambda p: np.savez(p, probs=PROBS, indices=np.array([1, 1])), "must be distinct"),
    ("a.npz", lambda p: np.savez(p, probs=PROBS, indices=np.array([0.0, 1.0])), "one integer per row"),
    ("a.npz", lambda p: p.write_bytes(b"PK\x03\x04 not really a zip"), "not a readable .npz archive"),
    ("a.npz", lambda p: p.write_bytes(_npy(PROBS)), "not an .npz archive of named arrays"),
]


@pytest.mark.parametrize(("name", "write", "problem"), BAD, ids=[problem for _, _, problem in BAD])
def test_a_malformed_reference_file_is_refused_saying_what_is_wrong(tmp_path, name, write, problem):
    path = tmp_path / name
    write(path)
    with pytest.raises(ValueError) as error:
        read_reference_file(path)
    assert problem in str(error.value) and len(str(error.value).splitlines()) == 1
