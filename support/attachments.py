"""What an attachment is, told from its content (the name and the browser's claim are not trusted).

Each known type has a test on the first bytes of the file; settings choose which of
them are allowed (`SUPPORT_ATTACHMENT_TYPES`). Text must be UTF-8 without NUL bytes, so
a log file passes and an executable renamed `.txt` does not.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import UploadedFile

SNIFF_BYTES = 8192


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the end of the sample is still text.
        return error.start >= len(head) - 3 and error.reason == "unexpected end of data"
    return True


@dataclass(frozen=True)
class AttachmentType:
    content_type: str
    label: str
    matches: Callable[[bytes], bool]
    # Shown in the browser (images) or always downloaded (anything else).
    inline: bool


KNOWN_TYPES: dict[str, AttachmentType] = {
    kind.content_type: kind
    for kind in (
        AttachmentType(
            "image/png", "PNG", lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"), True
        ),
        AttachmentType("image/jpeg", "JPEG", lambda head: head.startswith(b"\xff\xd8\xff"), True),
        AttachmentType("image/gif", "GIF", lambda head: head[:6] in (b"GIF87a", b"GIF89a"), True),
        AttachmentType(
            "image/webp",
            "WebP",
            lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP",
            True,
        ),
        AttachmentType("application/pdf", "PDF", lambda head: head.startswith(b"%PDF-"), False),
        AttachmentType("text/plain", "text", _is_text, False),
    )
}


def attachment_types_check() -> None:
    unknown = sorted(set(settings.SUPPORT_ATTACHMENT_TYPES) - set(KNOWN_TYPES))
    if unknown:
        raise ImproperlyConfigured(
            f"SUPPORT_ATTACHMENT_TYPES names types the portal cannot recognise: {unknown}; "
            f"known: {sorted(KNOWN_TYPES)}."
        )


def allowed_types() -> list[AttachmentType]:
    return [KNOWN_TYPES[name] for name in settings.SUPPORT_ATTACHMENT_TYPES]


def allowed_types_text() -> str:
    return ", ".join(kind.label for kind in allowed_types())


def attachment_type_detect(upload: UploadedFile) -> AttachmentType | None:
    """The allowed type the content is, or None. Binary formats are tried before text."""
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    if not head:
        return None
    for kind in sorted(allowed_types(), key=lambda kind: kind.content_type == "text/plain"):
        if kind.matches(head):
            return kind
    return None


def attachment_is_inline(content_type: str) -> bool:
    kind = KNOWN_TYPES.get(content_type)
    return kind is not None and kind.inline
