"""Catalog domain errors. Codes are part of the API contract."""

from cloudportal.exceptions import DomainError


class CatalogChoiceNotOffered(DomainError):
    """One or more choices of a deployment spec are unknown, retired or not offered there.

    `errors` names each offending field (`region`, `instance_type`, `image`,
    `storage_profile`, `size_gb`) with a message that says what is offered instead.
    """

    code = "catalog_choice_not_offered"
    status = 400
    title = "The chosen configuration is not offered"


class CatalogSeedInvalid(DomainError):
    code = "catalog_seed_invalid"
    status = 400
    title = "The catalog seed file is invalid"
