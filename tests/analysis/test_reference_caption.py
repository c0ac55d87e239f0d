"""The table's caption on closeness to a reference, read from a sweep's record and stored ceiling."""

import pandas as pd

from bdlsweep.analysis.reference_caption import reference_caption_of
from bdlsweep.storage.layout import SweepLayout
from bdlsweep.storage.locations import Location

MEASURED = pd.DataFrame({"test_acc": [0.9], "test_agreement": [0.8], "test_total_variation": [0.1]})


def test_the_caption_names_the_reference_and_the_stored_ceiling(tmp_path):
    layout = SweepLayout(Location.parse(tmp_path))
    pairs = pd.DataFrame(
        {"method": "hmc", "seed_a": [1], "seed_b": [2], "agreement": [0.75], "total_variation": [0.2]}
    )
    layout.reference_ceiling.write_text(pairs.to_csv(index=False))
    record = {"evaluate": {"reference": "hmc", "ensemble_sizes": [1, 3]}, "reference_file": None}
    assert reference_caption_of(layout, record, MEASURED) == (
        "Agree, TV: each test predictive against the reference posterior's, HMC (its first ensemble of "
        "K = 3). Ceiling (hmc's single members against each other, 1 pair): Agree 0.750, TV 0.200."
    )
    from_file = {
        "evaluate": {"reference": "probs.csv", "ensemble_sizes": [1]},
        "reference_file": "/x/probs.csv",
    }
    layout.reference_ceiling.delete()
    assert reference_caption_of(layout, from_file, MEASURED).endswith("posterior's, probs.csv.")
    assert reference_caption_of(layout, {"evaluate": {"reference": None}}, MEASURED) == ""
    assert reference_caption_of(layout, record, MEASURED[["test_acc"]]) == ""  # an evaluation without it
