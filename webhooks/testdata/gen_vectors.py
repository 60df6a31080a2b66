#!/usr/bin/env python3
"""Generates vectors.json, the known-answer vectors for the webhooks package.

The expected values come from Python's own json, hmac, hashlib and base64 modules,
independently of the Go code. Run it from the repository root and commit the result:

    python3 webhooks/testdata/gen_vectors.py > webhooks/testdata/vectors.json
"""

import base64
import hashlib
import hmac
import json

SECRET = "s3cr3t-Ключ-🔑"  # provider-compatible secret, used whole as UTF-8
STANDARD_SECRETS = [
    "whsec_" + base64.b64encode(bytes(range(32))).decode(),
    "whsec_" + base64.b64encode(b"rotated-secret-key-32-bytes-long").decode(),
]
MSG_ID = "evt_2mQ3xL0b7T9a"
TIMESTAMP = 1764080000

# (name, raw body). Bodies are text; they are signed as their UTF-8 bytes.
BODIES = [
    ("session status webhook",
     '{"session_id":"0c6b2f4e-8d1a-4b7e-9c3f-5a2d1e0f9b8c","status":"Approved",'
     '"webhook_type":"status.updated","vendor_data":"user-123","timestamp":1764080000,'
     '"created_at":1764080000,"decision":{"id_verification":{"status":"Approved",'
     '"full_name":"José Ñúñez"}},"score":87.5,"ratio":1.0}'),
    ("pretty printed with ascii escapes",
     '{\n  "status": "Declined",\n  "webhook_type": "status.updated",\n'
     '  "session_id": "abc",\n  "name": "Jos\\u00e9 \\ud83d\\ude00"\n}\n'),
    ("nested key order", '{"b":{"z":1,"a":[{"y":2,"x":1}]},"a":[3,2,1],"c":{}}'),
    ("non-ascii keys", '{"é":1,"z":2,"Z":3,"ä":4,"😀":5,"中":6,"":7,"a b":8}'),
    ("escapes", '{"s":"quote\\" backslash\\\\ slash\\/ nl\\n cr\\r tab\\t bs\\b ff\\f"}'),
    ("control characters", '["\\u0000\\u0001\\u001f\\u000b", "\\u007f", "<>&\'"]'),
    ("line and paragraph separators", '{"u2028":"a\\u2028b","raw":"c\u2029d"}'),
    ("big integers", '[12345678901234567890123456789, -98765432109876543210, 0, -0, 9007199254740993]'),
    ("whole floats", '[1.0, 1e3, 1E2, -0.0, -1.0, 1e20, 1.5e300, 12345678901234567890.0, 0e10, 1e-400]'),
    ("fractional floats", '[87.5, 0.1, 0.30000000000000004, 123.456, -2.5, 0.0001, 3.141592653589793, 1e15, 1.5e15, 1234567890123.5, 4503599627370495.5, 0.1e1, 2.5E-1]'),
    ("small floats", '[1e-07, 2.5e-05, 1e-05, 0.00001234, 5e-324, -1.7976931348623157e-300, 0.00012]'),
    ("duplicate keys", '{"a":1,"b":2,"a":{"x":[1,2]},"b":null}'),
    ("literals and empty containers", ' [true, false, null, {}, [], "", [[]], {"k":{}}] '),
    ("top-level scalar string", '"just a string é"'),
    ("top-level number", '  42.0  '),
    ("simple fields absent", '{"event_id":"evt_1","webhook_type":"user.status.updated","uuid":"u-1"}'),
]


def whole_floats_to_ints(v):
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, list):
        return [whole_floats_to_ints(e) for e in v]
    if isinstance(v, dict):
        return {k: whole_floats_to_ints(e) for k, e in v.items()}
    return v


def canonical(body: bytes) -> bytes:
    value = whole_floats_to_ints(json.loads(body))
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def hex_hmac(key: bytes, msg: bytes) -> str:
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def simple_fields(body: bytes) -> dict:
    value = json.loads(body)
    fields = {}
    for name in ("session_id", "status", "webhook_type"):
        field = value.get(name) if isinstance(value, dict) else None
        fields[name] = field if isinstance(field, str) else ""
    return fields


def standard_signature(body: bytes) -> str:
    msg = f"{MSG_ID}.{TIMESTAMP}.".encode() + body
    sigs = []
    for secret in STANDARD_SECRETS:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        sigs.append("v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode())
    return " ".join(sigs)


def main():
    key = SECRET.encode("utf-8")
    vectors = []
    for name, text in BODIES:
        body = text.encode("utf-8")
        fields = simple_fields(body)
        vectors.append({
            "name": name,
            "body": text,
            "canonical": canonical(body).decode("utf-8"),
            "signature_v2": hex_hmac(key, canonical(body)),
            "signature_raw": hex_hmac(key, body),
            "simple_fields": fields,
            "signature_simple": hex_hmac(key, ":".join(
                [str(TIMESTAMP), fields["session_id"], fields["status"], fields["webhook_type"]]
            ).encode("utf-8")),
            "standard_signature": standard_signature(body),
        })
    doc = {
        "secret": SECRET,
        "standard_secrets": STANDARD_SECRETS,
        "msg_id": MSG_ID,
        "timestamp": TIMESTAMP,
        "vectors": vectors,
    }
    print(json.dumps(doc, indent=2, ensure_ascii=True))


if __name__ == "__main__":
    main()
