from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from deployments.preflight import cloud_check


class Command(BaseCommand):
    help = (
        "Preflight against the configured OpenStack: authenticate, find Heat, check every "
        "library template with every catalog mapping of each region (flavors, images, "
        "networks), and report stacks against Heat's limit and the quota headroom. "
        "Read-only; exits non-zero with a list of what is wrong."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--region", help="one catalog region's slug (default: every one)")

    def handle(self, *args: Any, **options: Any) -> None:
        reports = cloud_check(region=options["region"])
        if not reports:
            raise CommandError(f"No active catalog region {options['region'] or ''}".strip() + ".")
        problems: list[str] = []
        for report in reports:
            self.stdout.write(f"{report.region} ({report.cloud_region})")
            for note in report.notes:
                self.stdout.write(f"  ok: {note}")
            for problem in report.problems:
                self.stdout.write(f"  PROBLEM: {problem}")
                problems.append(f"{report.region}: {problem}")
        if problems:
            raise CommandError(
                f"{len(problems)} problem(s):\n" + "\n".join(f"- {line}" for line in problems)
            )
        self.stdout.write(self.style.SUCCESS("The cloud is ready for the portal."))
