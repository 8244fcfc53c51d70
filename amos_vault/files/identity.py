"""The vault owner's identity, compatible with the MirrorDNA identity record.

The public part (``identity_id`` = ``mdna_usr_`` + 16 lowercase hex, ``identity_type``,
``created_at``, ``public_key`` as base64 of the raw 32-byte Ed25519 key, ``name``) lives in the
vault's ``identity.md`` front-matter. The private key lives outside the vault, in the user's
config folder (mode 0600), so it never enters git.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amos_vault.core.errors import IdentityError, ParseError
from amos_vault.files.frontmatter import decode_text, parse_front_matter, render_front_matter
from amos_vault.files.sessionfile import format_timestamp, now_utc
from amos_vault.files.vault import atomic_write, ensure_dir

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

IDENTITY_PREFIX = "mdna_usr_"


@dataclass(frozen=True)
class Identity:
    """The public identity record."""

    identity_id: str
    identity_type: str
    created_at: str
    public_key: str
    name: str

    def to_dict(self) -> dict[str, str]:
        """The record as a mapping, in the MirrorDNA field order."""
        return {
            "identity_id": self.identity_id,
            "identity_type": self.identity_type,
            "created_at": self.created_at,
            "public_key": self.public_key,
            "name": self.name,
        }


def new_identity_id() -> str:
    """``mdna_usr_`` followed by 16 random lowercase hex digits."""
    return IDENTITY_PREFIX + secrets.token_hex(8)


def key_path(key_dir: Path, identity_id: str) -> Path:
    """Where the private key of ``identity_id`` is kept."""
    return key_dir / "keys" / f"{identity_id}.pem"


def create_identity(name: str, key_dir: Path) -> Identity:
    """Make a new identity and store its private key under ``key_dir`` (mode 0600)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    raw_public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    identity = Identity(
        identity_id=new_identity_id(),
        identity_type="user",
        created_at=format_timestamp(now_utc()).replace(" ", "T"),
        public_key=base64.b64encode(raw_public).decode("ascii"),
        name=name,
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = key_path(key_dir, identity.identity_id)
    ensure_dir(path.parent)
    atomic_write(path, pem)
    return identity


def render_identity_note(identity: Identity) -> bytes:
    """The text of ``identity.md``: the record as front-matter, then a short explanation."""
    body = (
        f"# {identity.name}\n\n"
        "This note is the public identity of the owner of this vault, in the MirrorDNA\n"
        "identity record format. Sessions name it in their `identity` field.\n\n"
        "The private key that matches `public_key` is kept outside the vault, in your user\n"
        "config folder, so it never enters version control. Do not edit the fields above.\n"
    )
    return render_front_matter(identity.to_dict(), "\n" + body).encode()


def load_identity(path: Path) -> Identity:
    """Read ``identity.md``; `IdentityError` or `ParseError` when it is missing or malformed."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IdentityError(
            f"{path.name} is missing, so the vault has no owner identity",
            hint="run `amosvault init` on the vault to create one (existing files are kept)",
            path=path,
        ) from None
    doc = parse_front_matter(decode_text(data, path)[0], path)
    fields: dict[str, Any] = doc.meta
    missing = [k for k in ("identity_id", "identity_type", "public_key") if not fields.get(k)]
    if missing:
        raise ParseError(
            f"identity record lacks {', '.join(missing)}",
            path=path,
            line=2,
            hint="restore identity.md from version control, or move it away and run init",
        )
    identity_id = str(fields["identity_id"])
    if not (
        identity_id.startswith(IDENTITY_PREFIX)
        and len(identity_id) == len(IDENTITY_PREFIX) + 16
        and all(c in "0123456789abcdef" for c in identity_id[len(IDENTITY_PREFIX) :])
    ):
        raise ParseError(
            f"identity_id {identity_id!r} is not mdna_usr_ followed by 16 lowercase hex digits",
            path=path,
            line=doc.key_line("identity_id"),
        )
    created = fields.get("created_at", "")
    if isinstance(created, dt.datetime):
        created = format_timestamp(created).replace(" ", "T")
    return Identity(
        identity_id=identity_id,
        identity_type=str(fields["identity_type"]),
        created_at=str(created),
        public_key=str(fields["public_key"]),
        name=str(fields.get("name") or ""),
    )


def _canonical(claim: Mapping[str, Any] | bytes | str) -> bytes:
    if isinstance(claim, bytes):
        return claim
    if isinstance(claim, str):
        return claim.encode("utf-8")
    return json.dumps(claim, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _load_private_key(identity: Identity, key_dir: Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = key_path(key_dir, identity.identity_id)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise IdentityError(
            f"the private key of {identity.identity_id} is not on this machine",
            hint=f"copy it to {path} (mode 0600) from the machine where the vault was created",
            path=path,
        ) from None
    except ValueError as exc:
        raise IdentityError(f"the private key file is damaged: {exc}", path=path) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError("the private key file does not hold an Ed25519 key", path=path)
    return key


def sign_claim(identity: Identity, claim: Mapping[str, Any] | bytes | str, key_dir: Path) -> str:
    """Sign ``claim`` (bytes, text, or a mapping signed as canonical JSON); base64 signature."""
    from cryptography.hazmat.primitives import serialization

    key = _load_private_key(identity, key_dir)
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    if base64.b64encode(public).decode("ascii") != identity.public_key:
        raise IdentityError(
            "the private key on this machine does not match identity.md's public_key",
            hint="identity.md was changed or the key was replaced; restore the matching pair",
            path=key_path(key_dir, identity.identity_id),
        )
    return base64.b64encode(key.sign(_canonical(claim))).decode("ascii")


def verify_claim(
    identity: Identity, claim: Mapping[str, Any] | bytes | str, signature: str
) -> bool:
    """Whether ``signature`` is ``identity``'s signature of ``claim``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(identity.public_key))
        public.verify(base64.b64decode(signature, validate=True), _canonical(claim))
    except (InvalidSignature, ValueError):
        return False
    return True
