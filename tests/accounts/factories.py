import factory
from allauth.account.models import EmailAddress
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from accounts.models import SshKey, User

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    """A user as sign-up leaves it: with a customer, email not yet verified."""

    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = PASSWORD

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.objects.create_user(*args, **kwargs)


class VerifiedUserFactory(UserFactory):
    class Meta:
        skip_postgeneration_save = True

    @factory.post_generation
    def verified_email(self, create, extracted, **kwargs):
        if create:
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


def openssh_public_key(
    kind: str = "ed25519", *, bits: int = 2048, comment: str = "me@laptop"
) -> str:
    if kind == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    elif kind == "ecdsa":
        private = ec.generate_private_key(ec.SECP256R1())
    elif kind == "rsa":
        private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    else:
        raise ValueError(kind)
    line = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return f"{line.decode()} {comment}".strip()


def openssh_private_key() -> str:
    return (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode()
    )


class SshKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SshKey

    customer = factory.LazyAttribute(lambda o: VerifiedUserFactory().customer)
    name = factory.Sequence(lambda n: f"key-{n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from accounts.services import ssh_key_create

        return ssh_key_create(
            customer=kwargs["customer"], name=kwargs["name"], public_key=openssh_public_key()
        )


def api_key_for(customer, *, scopes=None, **kwargs):
    """A key of `customer` (every scope unless told); returns (ApiKey, secret)."""
    from accounts.api_keys import api_key_create
    from cloudportal.api.scopes import Scope

    created = api_key_create(
        customer=customer,
        name=kwargs.pop("name", "script"),
        scopes=Scope.values if scopes is None else scopes,
        **kwargs,
    )
    return created.api_key, created.secret


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
