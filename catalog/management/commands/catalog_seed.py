from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.exceptions import CatalogSeedInvalid
from catalog.services import SEED_FILE, catalog_seed_file_load


class Command(BaseCommand):
    help = "Load the catalog seed file: create what is new, update what changed (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", type=Path, default=SEED_FILE, help="YAML seed file.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = catalog_seed_file_load(path=options["file"])
        except CatalogSeedInvalid as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Catalog seeded from {options['file'].name}: {len(result.created)} created, "
                f"{len(result.updated)} updated."
            )
        )
        for label in result.created:
            self.stdout.write(f"  created {label}")
        for label in result.updated:
            self.stdout.write(f"  updated {label}")
