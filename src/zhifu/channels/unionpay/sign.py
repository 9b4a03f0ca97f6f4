"""UnionPay acquirer gateway messages (5.1.0): form-encoded key=value pairs signed with the sender's certificate.

Signing (signMethod 01): the fields other than `signature`, sorted by key, joined as `k=v&k=v` (values as sent, not
URL-encoded), hashed with SHA-256 to lowercase hex; that hex string is signed with SHA256withRSA (PKCS#1 v1.5) and
the result base64-encoded into `signature`. `certId` is the signing certificate's serial number in decimal. The
receiver verifies with the counterpart's certificate and checks that `certId` names it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

SIGN_METHOD_RSA = "01"
VERSION = "5.1.0"
ENCODING = "UTF-8"
FORM = "application/x-www-form-urlencoded;charset=UTF-8"


class SignatureError(Exception):
    """A message whose signature, certificate serial or form is not acceptable (the reason never carries a key)."""


def sign_string(fields: Mapping[str, str]) -> str:
    """The string that is hashed: every field but `signature`, sorted by key, `k=v` joined with `&`."""
    return "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "signature")


def digest_hex(fields: Mapping[str, str]) -> bytes:
    return hashlib.sha256(sign_string(fields).encode("utf-8")).hexdigest().encode("ascii")


def cert_id(cert: x509.Certificate) -> str:
    return str(cert.serial_number)


class Signer:
    """One side's signing key and certificate."""

    def __init__(self, key: rsa.RSAPrivateKey, cert: x509.Certificate) -> None:
        self.key = key
        self.cert = cert
        self.cert_id = cert_id(cert)

    @classmethod
    def from_files(cls, key_path: str | Path, cert_path: str | Path) -> Signer:
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the UnionPay signing key must be RSA")
        return cls(key, load_cert(cert_path))

    def sign(self, fields: Mapping[str, str]) -> dict[str, str]:
        """The fields with signMethod, certId and signature set."""
        out = {k: v for k, v in fields.items() if v is not None and v != ""}
        out["signMethod"] = SIGN_METHOD_RSA
        out["certId"] = self.cert_id
        out.pop("signature", None)
        raw = self.key.sign(digest_hex(out), padding.PKCS1v15(), hashes.SHA256())
        out["signature"] = base64.b64encode(raw).decode("ascii")
        return out


class Verifier:
    """The counterpart's certificate: verifies a message and checks its certId (and signPubKeyCert, if sent)."""

    def __init__(self, cert: x509.Certificate) -> None:
        self.cert = cert
        self.cert_id = cert_id(cert)
        self._pem = cert.public_bytes(serialization.Encoding.PEM)
        self._pem_normal = _normal_pem(self._pem.decode())

    @classmethod
    def from_file(cls, cert_path: str | Path) -> Verifier:
        return cls(load_cert(cert_path))

    def verify(self, fields: Mapping[str, str]) -> None:
        if fields.get("signMethod") != SIGN_METHOD_RSA:
            raise SignatureError(f"signMethod {fields.get('signMethod')!r} is not 01 (RSA-SHA256)")
        sig = fields.get("signature")
        if not sig:
            raise SignatureError("no signature")
        if fields.get("certId") != self.cert_id:
            raise SignatureError("certId does not name the counterpart's signing certificate")
        pub_cert = fields.get("signPubKeyCert")
        if pub_cert is not None and _normal_pem(pub_cert) != self._pem_normal:
            raise SignatureError("signPubKeyCert is not the counterpart's signing certificate")
        try:
            raw = base64.b64decode(sig, validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError("signature is not base64") from None
        key = self.cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureError("the counterpart's certificate does not hold an RSA key")
        try:
            key.verify(raw, digest_hex(fields), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise SignatureError("signature does not verify") from None


def _normal_pem(text: str) -> str:
    return "".join(text.split())


def load_cert(path: str | Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


# Form encoding as urllib.parse.urlencode / parse_qsl(strict_parsing=True, keep_blank_values=True) do it, with
# one regular expression over the escapes instead of a Python step per byte: a message carries a 344-character
# signature and (in answers) a certificate of some 1,700 escaped characters, on every payment's path.
_UNSAFE = re.compile(rb"[^A-Za-z0-9_.~ -]")
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")


def _quote_plus(value: str) -> str:
    raw = _UNSAFE.sub(lambda m: b"%%%02X" % m.group()[0], value.encode("utf-8"))
    return raw.decode("ascii").replace(" ", "+")


def _unquote_plus(value: str) -> str:
    if len(value) >= _LONG_VALUE:
        return _unquote_long(value)
    return _unquote(value)


def _unquote(value: str) -> str:
    value = value.replace("+", " ")
    if "%" not in value:
        return value
    raw = _ESCAPE.sub(lambda m: bytes.fromhex(m.group(1).decode("ascii")), value.encode("utf-8"))
    return raw.decode("utf-8", errors="replace")


# A long value is the sender's certificate (signPubKeyCert, about 1,700 characters with some 70 escapes), the
# same in every answer of a rail: it is unescaped once. Signatures (344 characters) differ and are not kept.
_LONG_VALUE = 512
_unquote_long = functools.lru_cache(maxsize=32)(_unquote)


def encode_form(fields: Mapping[str, str]) -> bytes:
    return "&".join(f"{_quote_plus(str(k))}={_quote_plus(str(v))}" for k, v in fields.items()).encode("ascii")


def decode_form(body: bytes) -> dict[str, str]:
    """A form body as a dict; a repeated key or bytes that are not UTF-8 form text raise SignatureError."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError("body is not UTF-8") from None
    out: dict[str, str] = {}
    if not text:
        return out
    for part in text.split("&"):
        k, sep, v = part.partition("=")
        if not sep:
            raise SignatureError("body is not a form")
        k = _unquote_plus(k)
        if k in out:
            raise SignatureError(f"field {k} repeated")
        out[k] = _unquote_plus(v)
    return out


def make_certificate(folder: Path, stem: str, common_name: str, *, serial: int) -> tuple[Path, Path]:
    """A new RSA-2048 key and self-signed X.509 signing certificate as PEM files `<stem>.key.pem`/`.cert.pem`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(
                NameOID.ORGANIZATION_NAME, "China UnionPay" if "UnionPay" in common_name else "Zhifu acquirer"
            ),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = folder / f"{stem}.key.pem", folder / f"{stem}.cert.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path
