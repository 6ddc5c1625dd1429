"""Redaction: nothing secret or personal is written under reports/ or to the logs.

A `Redactor` knows the run's live secrets (the mocks' admin token, the pagers'
keys and any other configured credential), replaced wherever their exact
value appears, and patterns for what no list can name: e-mail addresses,
telephone numbers, card numbers that pass the Luhn check, IBANs that pass
their mod-97 check, bearer tokens and Authorization headers, and the values
of personal fields (name, email, phone, address, date of birth, national id,
card and bank numbers) in JSON objects and in text that quotes them. Each is
replaced by ``[redacted:<kind>]``.

It is applied at every write boundary: the journal (`Journal.record` and
`Journal.write`), `write_report_file` for every report, `redact_tree` over
the files other processes wrote into a run folder (Locust, the mocks,
Prometheus, Alertmanager) once they have stopped, and `RedactingFilter` on
the log handlers the command line installs.

A person's name in free text, outside a field named as personal, is not
redacted: it cannot be told from other words. Card numbers that fail the Luhn
check, IBANs that fail mod 97 and telephone numbers without a leading + or 0
are not redacted, and a date of birth only in a date-of-birth field.
"""

import json
import logging
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MARKER = "[redacted:{kind}]"
MARKER_PATTERN = re.compile(r"\[redacted:[a-z_]+\]")

# Fields whose value is personal wherever they appear, by the kind they are
# redacted as.
PERSONAL_FIELDS = {
    "email": "email",
    "email_address": "email",
    "phone": "phone",
    "phone_number": "phone",
    "mobile": "phone",
    "first_name": "name",
    "last_name": "name",
    "full_name": "name",
    "surname": "name",
    "given_name": "name",
    "payee_name": "name",
    "account_holder": "name",
    "address": "address",
    "postal_address": "address",
    "home_address": "address",
    "street": "address",
    "address_line": "address",
    "address_line1": "address",
    "address_line2": "address",
    "postcode": "address",
    "postal_code": "address",
    "zip": "address",
    "date_of_birth": "date_of_birth",
    "dob": "date_of_birth",
    "birth_date": "date_of_birth",
    "national_id": "national_id",
    "national_insurance_number": "national_id",
    "ssn": "national_id",
    "passport_number": "national_id",
    "tax_id": "national_id",
    "card_number": "card",
    "pan": "card",
    "iban": "bank",
    "account_number": "bank",
    "sort_code": "bank",
    "bank_account": "bank",
}
# Fields whose value is a secret wherever they appear.
SECRET_FIELDS = {
    "authorization": "secret",
    "admin_token": "secret",
    "access_token": "secret",
    "refresh_token": "secret",
    "password": "secret",
    "api_key": "secret",
    "routing_key": "secret",
    "client_secret": "secret",
    "secret": "secret",
}
# "name" is a person's only in an object that also holds one of these: a
# check, a fault or a journey has a name too, and it must stay readable.
PERSON_CONTEXT = set(PERSONAL_FIELDS) | {"customer_id"}
# How far around a quoted "name" field text is searched for PERSON_CONTEXT.
NAME_CONTEXT_CHARS = 300

_FIELD_NAMES = "|".join(
    sorted(map(re.escape, {**PERSONAL_FIELDS, **SECRET_FIELDS}), key=len, reverse=True)
)
# A personal or secret field quoted in text: JSON ("email": "x"), a Python
# repr ('email': 'x'), or key=value in a log line or query string.
_FIELD_IN_TEXT = re.compile(
    rf"""(?P<key>(?P<q>["']?)\b(?P<field>{_FIELD_NAMES})\b(?P=q)\s*(?P<sep>[:=])\s*)"""
    r"""(?P<value>\[redacted:[a-z_]+\]|(?:Bearer|Basic)\s+[^\s"',;}]+|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"""
    r"""|[^\s,;&}\])"']+)""",
    re.IGNORECASE,
)
# Unquoted key=value pairs with these keys are more often technical than personal.
_PLAIN_WORDS = {"address", "street", "zip", "pan", "secret"}
_NAME_IN_TEXT = re.compile(
    r"""(?P<key>(?P<q>["'])name(?P=q)\s*:\s*)(?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
)
_CONTEXT_IN_TEXT = re.compile(
    r"""["'](?:{})["']\s*:""".format("|".join(map(re.escape, PERSON_CONTEXT)))
)
_BEARER = re.compile(r"\b(?P<scheme>Bearer|Basic)\s+(?P<value>[A-Za-z0-9._~+/=-]{6,})")
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
# A run of digits with single spaces or hyphens, not inside a longer word or
# a decimal number.
_CARD = re.compile(r"(?<![\w.-])[2-6]\d(?:[ -]?\d){11,17}(?![\w-]|\.\d)")
_IBAN = re.compile(r"(?<![\w-])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![\w-])")
# International (+44 ...) or national trunk (07700 ...) numbers only: a bare
# run of digits is more often a count or a timestamp than a telephone.
_PHONE = re.compile(r"(?<![\w.+-])(?:\+\d{1,3}|0)(?:[ -]?\(?\d+\)?){2,6}(?![\w-]|\.\d)")


class Redactor:
    """Replaces the run's secrets and anything personal with a marker.

    Thread-safe: secrets can be added while other threads redact, since the
    estate's admin token is only known once the estate has started.
    """

    def __init__(self, secrets: Iterable[tuple[str, str]] = ()):
        self._lock = threading.Lock()
        self._secrets: dict[str, str] = {}
        self._secret_pattern: re.Pattern | None = None
        for value, kind in secrets:
            self.add_secret(value, kind)

    def add_secret(self, value: str | None, kind: str = "secret") -> None:
        """Redact this exact value wherever it appears, as kind."""
        if not isinstance(value, str) or len(value) < 4:
            # Too short to be a credential, and replacing it would shred text.
            return
        with self._lock:
            self._secrets[value] = kind
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._secret_pattern = re.compile("|".join(map(re.escape, ordered)))

    def secrets(self) -> dict[str, str]:
        with self._lock:
            return dict(self._secrets)

    def text(self, text: str) -> str:
        """The text with every secret and personal detail replaced by a marker."""
        if not text:
            return text
        with self._lock:
            pattern, kinds = self._secret_pattern, dict(self._secrets)
        if pattern is not None:
            text = pattern.sub(lambda m: _marker(kinds[m.group(0)]), text)
        text = _BEARER.sub(lambda m: f"{m['scheme']} {_marker('secret')}", text)
        text = _FIELD_IN_TEXT.sub(_redact_field, text)
        text = _redact_names(text)
        text = _EMAIL.sub(_marker("email"), text)
        text = _IBAN.sub(_if_valid(_iban_valid, "bank"), text)
        text = _CARD.sub(_if_valid(_luhn_valid, "card"), text)
        return _PHONE.sub(_if_valid(_phone_like, "phone"), text)

    def value(self, value: Any) -> Any:
        """A JSON-like value with personal fields and secrets redacted, recursively."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return self._mapping(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.value(item) for item in value)
        return value

    def _mapping(self, mapping: dict) -> dict:
        keys = {str(k).lower() for k in mapping}
        personal = bool(keys & PERSON_CONTEXT)
        redacted = {}
        for key, item in mapping.items():
            kind = _field_kind(str(key).lower(), personal)
            if kind is not None and item is not None and item != "":
                redacted[key] = _marker(kind)
            else:
                redacted[key] = self.value(item)
        return redacted


def estate_redactor(estate, admin_token: str | None = None) -> Redactor:
    """A Redactor that knows the estate's configured credentials (the pagers'
    keys) and, once it is known, the mocks' admin token."""
    alerting = estate.alerting
    targets = [*alerting.teams.values(), alerting.tickets]
    redactor = Redactor((target.key, "credential") for target in targets)
    redactor.add_secret(admin_token, "admin_token")
    return redactor


def _field_kind(key: str, personal: bool) -> str | None:
    if key in SECRET_FIELDS:
        return SECRET_FIELDS[key]
    if key in PERSONAL_FIELDS:
        return PERSONAL_FIELDS[key]
    if key == "name" and personal:
        return "name"
    return None


def _marker(kind: str) -> str:
    return MARKER.format(kind=kind)


def _redact_field(match: re.Match) -> str:
    value = match["value"]
    field = match["field"].lower()
    if MARKER_PATTERN.fullmatch(value.strip("\"'")):
        return match.group(0)
    if not match["q"] and match["sep"] == "=" and field in _PLAIN_WORDS:
        # address=127.0.0.1:9090 in a server's log is a socket, not a home.
        return match.group(0)
    kind = SECRET_FIELDS.get(field) or PERSONAL_FIELDS[field]
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match['key']}{quote}{_marker(kind)}{quote}"


def _redact_names(text: str) -> str:
    """A quoted "name" field, when a personal field is quoted near it."""

    def replace(match: re.Match) -> str:
        start = max(0, match.start() - NAME_CONTEXT_CHARS)
        around = text[start : match.end() + NAME_CONTEXT_CHARS]
        if not _CONTEXT_IN_TEXT.search(around):
            return match.group(0)
        quote = match["value"][0]
        return f"{match['key']}{quote}{_marker('name')}{quote}"

    return _NAME_IN_TEXT.sub(replace, text)


def _if_valid(check, kind: str):
    def replace(match: re.Match) -> str:
        return _marker(kind) if check(match.group(0)) else match.group(0)

    return replace


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _luhn_valid(text: str) -> bool:
    digits = _digits(text)
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        number = int(digit)
        if index % 2 == 1:
            number = number * 2 - 9 if number > 4 else number * 2
        total += number
    return total % 10 == 0


def _iban_valid(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _phone_like(text: str) -> bool:
    digits = _digits(text)
    if not 10 <= len(digits) <= 15:
        return False
    # An ISO date or a time is not a telephone number.
    return not re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", text)


class RedactingFilter(logging.Filter):
    """Redacts each record's message (and traceback) before a handler writes it."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is the handler's to report
            return True
        record.msg = self.redactor.text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.text(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.text(record.stack_info)
        return True


def install_log_filter(redactor: Redactor, logger: logging.Logger | None = None):
    """Put a RedactingFilter on every handler of logger (the root by default),
    in place of one installed before."""
    logger = logger or logging.getLogger()
    log_filter = RedactingFilter(redactor)
    for handler in logger.handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(log_filter)
    return log_filter


def write_report_file(path: Path, text: str, redactor: Redactor | None = None) -> Path:
    """Write a report file under reports/ with everything secret or personal redacted.

    Without a redactor only the patterns apply (no run's secrets are known).
    """
    path = Path(path)
    path.write_text((redactor or Redactor()).text(text))
    return path


def write_report_json(path: Path, data: Any, redactor: Redactor | None = None) -> Path:
    """Write JSON under reports/, personal fields and secrets redacted."""
    safe = (redactor or Redactor()).value(data)
    return write_report_file(Path(path), json.dumps(safe, indent=2, sort_keys=True))


# Files that are not text, or that only the process writing them may touch.
_BINARY_SUFFIXES = {".sqlite3", ".sqlite3-wal", ".sqlite3-shm", ".db", ".wal"}
# A .json file larger than this is redacted line by line rather than parsed.
_WHOLE_JSON_BYTES = 32 * 1024 * 1024


def redact_file(path: Path, redactor: Redactor) -> bool:
    """Redact a text file in place; True when anything was replaced.

    Files that are not UTF-8 text are left as they are (Prometheus's and
    Alertmanager's data). A .json file, and each line of any other file that
    holds one JSON object (journal.jsonl, the mocks' request logs), is
    redacted field by field, so a personal field is caught however it is
    formatted; other lines as text.
    """
    path = Path(path)
    if path.suffix in _BINARY_SUFFIXES:
        return False
    temporary = path.with_name(f".{path.name}.redacting")
    try:
        changed = _redact_into(path, temporary, redactor)
    except (UnicodeDecodeError, ValueError):
        changed = False  # not text
    if not changed:
        temporary.unlink(missing_ok=True)
        return False
    os.chmod(temporary, path.stat().st_mode & 0o777)
    temporary.replace(path)
    return True


def _redact_into(path: Path, temporary: Path, redactor: Redactor) -> bool:
    if path.suffix == ".json" and path.stat().st_size <= _WHOLE_JSON_BYTES:
        original = path.read_text(encoding="utf-8")
        redacted = _redact_json_document(original, redactor)
        if redacted == original:
            return False
        temporary.write_text(redacted, encoding="utf-8")
        return True
    changed = False
    with (
        open(path, encoding="utf-8", newline="") as source,
        open(temporary, "w", encoding="utf-8", newline="") as target,
    ):
        for line in source:
            if "\x00" in line:
                raise ValueError(f"{path} is not text")
            redacted = _redact_line(line, redactor)
            changed = changed or redacted != line
            target.write(redacted)
    return changed


def _redact_json_document(text: str, redactor: Redactor) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return redactor.text(text)
    safe = redactor.value(data)
    return text if safe == data else json.dumps(safe, indent=2)


def _redact_line(line: str, redactor: Redactor) -> str:
    if not line.lstrip().startswith("{"):
        return redactor.text(line)
    try:
        data = json.loads(line)
    except ValueError:
        return redactor.text(line)
    safe = redactor.value(data)
    if safe == data:
        return line
    ending = line[len(line.rstrip("\r\n")) :]
    return json.dumps(safe, separators=(",", ":")) + ending


def redact_tree(
    folder: Path, redactor: Redactor, skip: Iterable[str] = ()
) -> list[Path]:
    """Redact every text file under folder in place; return those changed.

    Call it once the processes writing there have stopped: a process that
    still appends to a file would keep writing to the replaced one's inode.
    Top-level entries named in skip (such as a live journal) are left alone.
    """
    changed = []
    skipped = set(skip)
    for path in sorted(Path(folder).rglob("*")):
        relative = path.relative_to(folder)
        if relative.parts[0] in skipped or not path.is_file() or path.is_symlink():
            continue
        try:
            if redact_file(path, redactor):
                changed.append(path)
        except OSError:
            log.warning("could not redact %s", path, exc_info=True)
    return changed


def find_planted(folder: Path, planted: Iterable[str]) -> dict[str, list[str]]:
    """Where each planted value appears under folder, bytes included.

    Looks in every file, binary ones too, for the value as UTF-8 and as the
    \\u-escaped form JSON may hold; used to prove a folder holds none of them.
    """
    values = [v for v in planted if v]
    found: dict[str, list[str]] = {}
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        content = path.read_bytes()
        for value in values:
            forms = {value.encode(), json.dumps(value)[1:-1].encode()}
            if any(form in content for form in forms):
                found.setdefault(value, []).append(str(path.relative_to(folder)))
    return found
