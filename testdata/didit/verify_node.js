// The seed vendor's published webhook verification snippets for Node.js (docs.didit.me,
// "Webhooks" → signature verification), re-typed, plus the Standard Webhooks library
// (npm "standardwebhooks"), run over deliveries recorded from a running Standing.
//
// Usage: node verify_node.js DELIVERIES.json
// DELIVERIES.json: {"secret": "...", "deliveries": [{"headers": {...}, "body": "..."}]}
// Prints one JSON object per delivery: {"x_signature", "x_signature_v2",
// "x_signature_simple_with_header_timestamp", "standard_webhooks"}.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const { Webhook } = require("standardwebhooks");

// --- re-typed from the vendor's documentation ------------------------------------------

function verifyWebhookSignature(rawBody, signatureHeader, timestampHeader, secretKey) {
  const timestamp = parseInt(timestampHeader, 10);
  const currentTime = Math.floor(Date.now() / 1000);
  if (Math.abs(currentTime - timestamp) > 300) return false;
  const expectedSignature = crypto.createHmac("sha256", secretKey).update(rawBody).digest("hex");
  const expected = Buffer.from(expectedSignature, "utf8");
  const provided = Buffer.from(signatureHeader, "utf8");
  return expected.length === provided.length && crypto.timingSafeEqual(expected, provided);
}

function shortenFloats(data) {
  if (Array.isArray(data)) {
    return data.map(shortenFloats);
  } else if (data !== null && typeof data === "object") {
    return Object.fromEntries(Object.entries(data).map(([key, value]) => [key, shortenFloats(value)]));
  } else if (typeof data === "number" && !Number.isInteger(data) && data % 1 === 0) {
    return Math.trunc(data);
  }
  return data;
}

function sortKeys(obj) {
  if (Array.isArray(obj)) {
    return obj.map(sortKeys);
  } else if (obj !== null && typeof obj === "object") {
    return Object.keys(obj).sort().reduce((result, key) => {
      result[key] = sortKeys(obj[key]);
      return result;
    }, {});
  }
  return obj;
}

function verifyWebhookSignatureV2(jsonBody, signatureHeader, timestampHeader, secretKey) {
  const timestamp = parseInt(timestampHeader, 10);
  const currentTime = Math.floor(Date.now() / 1000);
  if (Math.abs(currentTime - timestamp) > 300) return false;
  const canonicalJson = JSON.stringify(sortKeys(shortenFloats(jsonBody)));
  const expectedSignature = crypto.createHmac("sha256", secretKey).update(canonicalJson, "utf8").digest("hex");
  const expected = Buffer.from(expectedSignature, "utf8");
  const provided = Buffer.from(signatureHeader, "utf8");
  return expected.length === provided.length && crypto.timingSafeEqual(expected, provided);
}

function verifyWebhookSignatureSimple(jsonBody, signatureHeader, timestampHeader, secretKey) {
  const timestamp = parseInt(timestampHeader, 10);
  const currentTime = Math.floor(Date.now() / 1000);
  if (Math.abs(currentTime - timestamp) > 300) return false;
  const canonicalString = [
    jsonBody.timestamp ?? "",
    jsonBody.session_id ?? "",
    jsonBody.status ?? "",
    jsonBody.webhook_type ?? "",
  ].join(":");
  const expectedSignature = crypto.createHmac("sha256", secretKey).update(canonicalString).digest("hex");
  const expected = Buffer.from(expectedSignature, "utf8");
  const provided = Buffer.from(signatureHeader, "utf8");
  return expected.length === provided.length && crypto.timingSafeEqual(expected, provided);
}

// --- driver ------------------------------------------------------------------------------

const spec = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
for (const d of spec.deliveries) {
  const headers = Object.fromEntries(Object.entries(d.headers).map(([k, v]) => [k.toLowerCase(), v]));
  const raw = Buffer.from(d.body, "utf8");
  const data = JSON.parse(d.body);
  const ts = headers["x-timestamp"];
  let standard = false;
  try {
    new Webhook(spec.secret).verify(d.body, headers);
    standard = true;
  } catch (e) {
    standard = false;
  }
  console.log(JSON.stringify({
    x_signature: verifyWebhookSignature(raw, headers["x-signature"], ts, spec.secret),
    x_signature_v2: verifyWebhookSignatureV2(data, headers["x-signature-v2"], ts, spec.secret),
    x_signature_simple_with_header_timestamp: verifyWebhookSignatureSimple(
      Object.assign({}, data, { timestamp: ts }), headers["x-signature-simple"], ts, spec.secret),
    standard_webhooks: standard,
  }));
}
