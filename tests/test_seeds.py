"""The JSON samples in tests/seeds are the vendors' own, unchanged."""

import json
import re
from pathlib import Path

import pytest

SEEDS = Path(__file__).parent / "seeds"
PAGES = Path(__file__).resolve().parents[2] / "shared" / "seeds"


def _samples(page: str) -> list[object]:
    text = (PAGES / page).read_text()
    found = []
    for start in [m.start() for m in re.finditer(r"\{", text)]:
        depth = 0
        for end in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                break
        try:
            found.append(json.loads(text[start : end + 1]))
        except json.JSONDecodeError:
            continue
    return found


@pytest.mark.skipif(not PAGES.is_dir(), reason="the vendors' pages are not beside the repo")
@pytest.mark.parametrize(
    ("page", "fixture"),
    [
        ("zoho-create-user-group.txt", "zoho-create-request.json"),
        ("zoho-create-user-group.txt", "zoho-create-response.json"),
        ("zoho-update-user-group.txt", "zoho-update-request.json"),
        ("zoho-update-user-group.txt", "zoho-update-response.json"),
        ("superoffice-put-usergroup.md", "superoffice-put-request.json"),
        ("superoffice-put-usergroup.md", "superoffice-put-response.json"),
    ],
)
def test_fixture_is_a_sample_of_the_vendor_page(page: str, fixture: str) -> None:
    assert json.loads((SEEDS / fixture).read_text()) in _samples(page)
