"""SSH public keys are read with `cryptography` and fingerprinted exactly as ssh-keygen does."""

import shutil
import subprocess

import pytest

from accounts.exceptions import SshKeyInvalid
from accounts.ssh_keys import public_key_parse
from tests.accounts.factories import openssh_private_key, openssh_public_key


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")
@pytest.mark.parametrize(
    ("kind", "bits"), [("ed25519", 256), ("ecdsa", 256), ("rsa", 2048), ("rsa", 4096)]
)
def test_fingerprint_line_matches_ssh_keygen(tmp_path, kind, bits):
    text = openssh_public_key(kind, bits=bits, comment="ada@laptop")
    path = tmp_path / "key.pub"
    path.write_text(text + "\n")

    expected = subprocess.run(
        ["ssh-keygen", "-lf", str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()

    parsed = public_key_parse(text)
    assert parsed.ssh_keygen_line == expected
    assert parsed.bits == bits
    assert expected.split()[1] == parsed.fingerprint


def test_key_without_comment_is_accepted_and_normalised():
    text = openssh_public_key("ed25519", comment="")

    parsed = public_key_parse(f"  {text}\n\n")

    assert parsed.comment == ""
    assert parsed.public_key == text
    assert parsed.key_type == "ssh-ed25519"


def test_private_key_is_refused_with_a_warning():
    with pytest.raises(SshKeyInvalid) as caught:
        public_key_parse(openssh_private_key())

    assert "This is a private key" in caught.value.detail
    assert caught.value.errors == {"public_key": [caught.value.detail]}


def test_short_rsa_key_is_refused_naming_its_size():
    with pytest.raises(SshKeyInvalid) as caught:
        public_key_parse(openssh_public_key("rsa", bits=1024))

    assert caught.value.detail.startswith("This RSA key has 1024 bits; at least 2048 are required.")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Paste one OpenSSH public key"),
        ("hello world", "Key type 'hello' is not supported"),
        ("ssh-ed25519", "This is not an SSH public key"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI!!!", "The key data is damaged or incomplete"),
        ("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ==", "The key data is damaged or incomplete"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "Key type 'ssh-dss' is not supported"),
        ("---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n---- END SSH2 PUBLIC KEY ----", "SSH2 (RFC 4716)"),
    ],
)
def test_garbage_is_refused_with_a_clear_message(text, message):
    with pytest.raises(SshKeyInvalid) as caught:
        public_key_parse(text)

    assert message in caught.value.detail


def test_two_keys_at_once_are_refused():
    text = openssh_public_key() + "\n" + openssh_public_key()

    with pytest.raises(SshKeyInvalid, match="Paste one key at a time"):
        public_key_parse(text)
