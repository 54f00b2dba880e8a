from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandParser

from catalog.selectors import cloud_names


class Command(BaseCommand):
    help = (
        "Write the flavors, images and networks the catalog maps to in each region of a "
        "cloud, in the file form devcloud's --catalog reads: devcloud then refuses, like "
        "Heat, a stack whose flavor, image or network its region does not have."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cloud", default="devcloud", help="the cloud's name in clouds.yaml")
        parser.add_argument("--output", type=Path, required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        regions = cloud_names(cloud=options["cloud"])
        output: Path = options["output"]
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(yaml.safe_dump({"regions": regions}, sort_keys=True))
        self.stdout.write(f"Wrote {output}: {', '.join(regions) or 'no regions'}.")
