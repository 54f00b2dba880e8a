"""Reading OpenSSH public keys with `cryptography`, and fingerprinting them as ssh-keygen does."""

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

from accounts.exceptions import SshKeyInvalid

MINIMUM_RSA_BITS = 2048
SUPPORTED_TYPES = {
    "ssh-ed25519": "ED25519",
    "ecdsa-sha2-nistp256": "ECDSA",
    "ecdsa-sha2-nistp384": "ECDSA",
    "ecdsa-sha2-nistp521": "ECDSA",
    "ssh-rsa": "RSA",
}
_WHAT_TO_PASTE = (
    "Paste one OpenSSH public key: the line in your .pub file, e.g. 'ssh-ed25519 AAAA… you@laptop'."
)


@dataclass(frozen=True)
class ParsedPublicKey:
    key_type: str
    bits: int
    fingerprint: str
    comment: str
    public_key: str  # "<type> <base64>[ <comment>]"

    @property
    def ssh_keygen_line(self) -> str:
        """What `ssh-keygen -lf key.pub` prints for this key."""
        comment = self.comment or "no comment"
        return f"{self.bits} {self.fingerprint} {comment} ({SUPPORTED_TYPES[self.key_type]})"


def fingerprint_sha256(blob: bytes) -> str:
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def public_key_parse(text: str) -> ParsedPublicKey:
    text = text.strip()
    if "PRIVATE KEY" in text:
        raise SshKeyInvalid(
            "This is a private key: keep it secret and never paste it anywhere. "
            "Paste the matching public key (the .pub file) instead."
        )
    if text.startswith("---- BEGIN SSH2 PUBLIC KEY"):
        raise SshKeyInvalid(
            "This key is in SSH2 (RFC 4716) format. Convert it with "
            "'ssh-keygen -i -f key.pub' and paste the result."
        )
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        raise SshKeyInvalid(_WHAT_TO_PASTE if not lines else "Paste one key at a time.")
    parts = lines[0].split(maxsplit=2)
    if len(parts) < 2:
        raise SshKeyInvalid(f"This is not an SSH public key. {_WHAT_TO_PASTE}")
    key_type, encoded = parts[0], parts[1]
    comment = parts[2].strip() if len(parts) == 3 else ""
    if key_type not in SUPPORTED_TYPES:
        raise SshKeyInvalid(
            f"Key type '{key_type[:40]}' is not supported. "
            "Use ed25519 (recommended), ecdsa, or rsa of at least 2048 bits."
        )
    try:
        blob = base64.b64decode(encoded, validate=True)
        public_key = load_ssh_public_key(f"{key_type} {encoded}".encode())
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise SshKeyInvalid(f"The key data is damaged or incomplete. {_WHAT_TO_PASTE}") from None

    if isinstance(public_key, rsa.RSAPublicKey):
        bits = public_key.key_size
        if bits < MINIMUM_RSA_BITS:
            raise SshKeyInvalid(
                f"This RSA key has {bits} bits; at least {MINIMUM_RSA_BITS} are required. "
                "Create a new key with 'ssh-keygen -t ed25519'."
            )
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        bits = public_key.curve.key_size
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        bits = 256
    else:  # pragma: no cover - SUPPORTED_TYPES admits nothing else
        raise SshKeyInvalid(f"Key type '{key_type}' is not supported.")

    normalised = f"{key_type} {encoded}" + (f" {comment}" if comment else "")
    return ParsedPublicKey(
        key_type=key_type,
        bits=bits,
        fingerprint=fingerprint_sha256(blob),
        comment=comment,
        public_key=normalised,
    )
