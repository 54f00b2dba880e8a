"""The README and DEVELOPERS.md describe the project as it is."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def layout_folders() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Layout", 1)[1].split("\n\n", 2)[1]
    return [
        folder
        for row in table.splitlines()
        if row.startswith("| `")
        for folder in re.findall(r"`([\w.-]+/)`", row.split("|")[1])
    ]


def test_readme_layout_lists_every_top_level_folder_once():
    folders = layout_folders()
    on_disk = sorted(
        f"{path.name}/"
        for path in ROOT.iterdir()
        if path.is_dir()
        and not path.name.startswith((".", "__"))
        and path.name != "var"
        and path.name != "staticfiles"
    )

    assert len(folders) == len(set(folders)), folders
    assert sorted(folders) == on_disk


def test_developers_guide_does_not_promise_tests_that_exist():
    guide = (ROOT / "DEVELOPERS.md").read_text()

    assert (ROOT / "tests" / "browser").is_dir()
    assert "when they arrive" not in guide
    assert "still to come" not in guide
    assert "tests/browser/" in guide
