"""The seed vendor's published webhook verification snippets for Python (docs.didit.me,
"Webhooks" → signature verification), re-typed, and a small driver that runs them over
deliveries recorded from a running Standing.

Usage: python3 verify_python.py DELIVERIES.json
DELIVERIES.json: {"secret": "...", "deliveries": [{"headers": {...}, "body": "..."}]}
Prints one JSON object per delivery: {"x_signature", "x_signature_v2",
"x_signature_simple", "x_signature_simple_with_header_timestamp"}.
"""

import hashlib
import hmac
import json
import sys
import time


# --- re-typed from the vendor's documentation -----------------------------------------

def verify_webhook_signature(raw_body: bytes, signature_header: str, timestamp_header: str, secret_key: str) -> bool:
    """X-Signature: HMAC-SHA256 of the raw request body."""
    timestamp = int(timestamp_header)
    if abs(int(time.time()) - timestamp) > 300:
        return False
    expected = hmac.new(secret_key.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature_header, expected)


def shorten_floats(data):
    """Whole-number floats become integers, recursively."""
    if isinstance(data, dict):
        return {key: shorten_floats(value) for key, value in data.items()}
    if isinstance(data, list):
        return [shorten_floats(item) for item in data]
    if isinstance(data, float) and data.is_integer():
        return int(data)
    return data


def verify_webhook_signature_v2(request_data: dict, signature_header: str, timestamp_header: str, secret_key: str) -> bool:
    """X-Signature-V2: HMAC-SHA256 of the canonical JSON of the parsed body."""
    timestamp = int(timestamp_header)
    if abs(int(time.time()) - timestamp) > 300:
        return False
    processed = shorten_floats(request_data)
    canonical_json = json.dumps(processed, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    expected = hmac.new(secret_key.encode("utf-8"), canonical_json.encode("utf-8"), hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature_header, expected)


def verify_webhook_signature_simple(request_data: dict, signature_header: str, timestamp_header: str, secret_key: str) -> bool:
    """X-Signature-Simple: HMAC-SHA256 of "timestamp:session_id:status:webhook_type",
    with the timestamp read from the body, as the published snippet does."""
    timestamp = int(timestamp_header)
    if abs(int(time.time()) - timestamp) > 300:
        return False
    canonical_string = ":".join([
        str(request_data.get("timestamp", "")),
        str(request_data.get("session_id", "")),
        str(request_data.get("status", "")),
        str(request_data.get("webhook_type", "")),
    ])
    expected = hmac.new(secret_key.encode("utf-8"), canonical_string.encode("utf-8"), hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature_header, expected)


# --- driver ----------------------------------------------------------------------------

def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    secret = spec["secret"]
    for d in spec["deliveries"]:
        headers = {k.lower(): v for k, v in d["headers"].items()}
        raw = d["body"].encode("utf-8")
        data = json.loads(raw)
        ts = headers["x-timestamp"]
        # Standing signs X-Signature-Simple with the X-Timestamp header value (README):
        # the same snippet, given that value as the body's timestamp.
        with_header_ts = dict(data, timestamp=ts)
        print(json.dumps({
            "x_signature": verify_webhook_signature(raw, headers["x-signature"], ts, secret),
            "x_signature_v2": verify_webhook_signature_v2(data, headers["x-signature-v2"], ts, secret),
            "x_signature_simple": verify_webhook_signature_simple(data, headers["x-signature-simple"], ts, secret),
            "x_signature_simple_with_header_timestamp": verify_webhook_signature_simple(
                with_header_ts, headers["x-signature-simple"], ts, secret),
        }))


if __name__ == "__main__":
    main()
