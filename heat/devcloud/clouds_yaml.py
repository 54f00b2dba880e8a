"""Writes the clouds.yaml that points openstacksdk at a devcloud.

python -m heat.devcloud.clouds_yaml --url http://127.0.0.1:8774 --output var/clouds.yaml
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from heat.devcloud import store as seed

CLOUD_NAME = "devcloud"


def clouds_config(
    url: str,
    regions: tuple[str, ...] = seed.DEFAULT_REGIONS,
    *,
    application_credential_cloud: bool = False,
) -> dict[str, Any]:
    auth_url = f"{url.rstrip('/')}/v3"
    config: dict[str, Any] = {
        "clouds": {
            # The portal's cloud: a password-based service user, as a real cloud needs.
            CLOUD_NAME: {
                "auth_type": "password",
                "auth": {
                    "auth_url": auth_url,
                    "username": seed.USER_NAME,
                    "password": seed.PASSWORD,
                    "project_name": seed.PROJECT_NAME,
                    "user_domain_name": seed.DOMAIN["name"],
                    "project_domain_name": seed.DOMAIN["name"],
                },
                "regions": list(regions),
                "interface": "public",
                "identity_api_version": 3,
            },
        }
    }
    if application_credential_cloud:
        # Only to show what Heat does with application credentials (it refuses them).
        config["clouds"][f"{CLOUD_NAME}-appcred"] = {
            "auth_type": "v3applicationcredential",
            "auth": {
                "auth_url": auth_url,
                "application_credential_id": seed.APP_CREDENTIAL_ID,
                "application_credential_secret": seed.APP_CREDENTIAL_SECRET,
            },
            "regions": list(regions),
            "interface": "public",
            "identity_api_version": 3,
        }
    return config


def write_clouds_yaml(
    path: Path,
    url: str,
    regions: tuple[str, ...] = seed.DEFAULT_REGIONS,
    *,
    application_credential_cloud: bool = False,
) -> Path:
    config = clouds_config(url, regions, application_credential_cloud=application_credential_cloud)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="devcloud's base URL")
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--regions", default=",".join(seed.DEFAULT_REGIONS))
    arguments = parser.parse_args()
    regions = tuple(filter(None, arguments.regions.split(",")))
    print(f"Wrote {write_clouds_yaml(arguments.output, arguments.url, regions)}")


if __name__ == "__main__":
    main()
