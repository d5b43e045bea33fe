#!/usr/bin/env python3
"""Writes events/: real-shaped API Gateway HTTP API (2.0) events named
<case>.<status>.json, and the scheduled events of the jobs.

Tokens are signed with the local-only secrets of scripts/lib.sh and expire in 2100, so the
events work against `make up` / `make test` and nowhere else. Run from the repo root:
    python3 tools/generate-events.py
"""
import base64
import hashlib
import hmac
import json
import os

JWT_SECRET = "local-only-user-jwt-secret-never-deploy-0001"
ANON_SECRET = "local-only-anonymous-secret-never-deploy-0001"
EXP = 4102444800  # 2100-01-01
USER = "0191e5a0-7b1c-7cc2-9f4e-3a1d2b9c8e71"
ANON = "0191e5a0-7b1c-7cc2-9f4e-3a1d2b9c8e72"
SOMEONE_ELSES_CONVERSATION = "0191e5a0-7b1c-7cc2-9f4e-3a1d2b9c8e73"


def b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(claims: dict, secret: str) -> str:
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = b64(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


USER_TOKEN = jwt({"sub": USER, "iss": "http://127.0.0.1/parley-local", "aud": "parley-local",
                  "iat": 1763769600, "exp": EXP}, JWT_SECRET)
ANON_TOKEN = jwt({"sub": ANON, "iss": "parley", "aud": "parley:anonymous", "iat": 1763769600, "exp": EXP},
                 ANON_SECRET)
AS_USER = {"authorization": "Bearer " + USER_TOKEN}
AS_ANON = {"x-anonymous-session": ANON_TOKEN}


def http_event(method, path, route, headers=None, body=None, query=None, params=None):
    h = {"accept": "application/json", "host": "abc123.execute-api.eu-west-1.amazonaws.com",
         "user-agent": "curl/8.5.0", "x-amzn-trace-id": "Root=1-6740c6a0-1b2c3d4e5f60718293a4b5c6",
         "x-forwarded-for": "203.0.113.7", "x-forwarded-port": "443", "x-forwarded-proto": "https"}
    h.update(headers or {})
    if body is not None:
        h["content-type"] = "application/json"
        h["content-length"] = str(len(body))
    raw_query = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    event = {
        "version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": raw_query, "headers": h,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com", "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7",
                     "userAgent": "curl/8.5.0"},
            "requestId": "JX3kQhGqoAMEVkQ=", "routeKey": route, "stage": "$default",
            "time": "22/Nov/2026:00:00:00 +0000", "timeEpoch": 1795305600000,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    if params:
        event["pathParameters"] = params
    if body is not None:
        event["body"] = body
    return event


# Local-only webhook signing secret (scripts/lib.sh writes the same into .local/stack.env).
STRIPE_WEBHOOK_SECRET = "whsec_local_only_never_deploy_0001"
ORDER = "0191e5a0-7b1c-7cc2-9f4e-3a1d2b9c8e74"


def stripe_signature(body: str, t: int) -> str:
    """Stripe's scheme: HMAC-SHA256 of "{t}.{body}" with the endpoint secret, hex."""
    mac = hmac.new(STRIPE_WEBHOOK_SECRET.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def stripe_event(event_id, typ, obj):
    return {"id": event_id, "object": "event", "api_version": "2025-11-17.clover", "created": 1795305600,
            "livemode": False, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
            "type": typ, "data": {"object": obj}}


STRIPE_SESSION = {
    "id": "cs_test_sample0001", "object": "checkout.session", "amount_subtotal": 1800, "amount_total": 1800,
    "automatic_tax": {"enabled": False, "liability": None, "status": None}, "cancel_url": "http://127.0.0.1/cancel",
    "client_reference_id": ORDER, "created": 1795305600, "currency": "usd", "custom_fields": [],
    "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                    "terms_of_service_acceptance": None},
    "customer": "cus_sample0001", "expires_at": 1795307460, "livemode": False, "metadata": {"order_id": ORDER},
    "mode": "payment", "payment_intent": "pi_sample0001", "payment_method_types": ["card"],
    "payment_status": "paid", "shipping_options": [], "status": "complete",
    "success_url": "http://127.0.0.1/success", "url": None,
}
STRIPE_COMPLETED = stripe_event("evt_sample_completed_0001", "checkout.session.completed", STRIPE_SESSION)
STRIPE_BODIES = {
    "stripe/checkout.session.completed.json": STRIPE_COMPLETED,
    "stripe/checkout.session.expired.json": stripe_event(
        "evt_sample_expired_0001", "checkout.session.expired",
        {**STRIPE_SESSION, "payment_status": "unpaid", "status": "expired", "payment_intent": None}),
    "stripe/charge.refunded.json": stripe_event(
        "evt_sample_refunded_0001", "charge.refunded",
        {"id": "ch_sample0001", "object": "charge", "amount": 1800, "amount_refunded": 1800, "refunded": True,
         "payment_intent": "pi_sample0001", "currency": "usd"}),
}


def scheduled_event(detail):
    return {"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
            "source": "parley.scheduler", "account": "123456789012", "time": "2026-11-22T03:00:00Z",
            "region": "eu-west-1", "resources": [], "detail": detail}


def twilio_form_event(path, params, signature=None):
    """A Twilio webhook as API Gateway hands it over: form-encoded, signed (or not)."""
    from urllib.parse import urlencode
    body = urlencode(params)
    headers = {"content-type": "application/x-www-form-urlencoded", "user-agent": "TwilioProxy/1.1",
               "accept": "*/*", "content-length": str(len(body))}
    if signature is not None:
        headers["x-twilio-signature"] = signature
    event = http_event("POST", path, "POST " + path, headers)
    event["body"] = body
    return event


# Signatures are computed over PARLEY_PUBLIC_URL, which differs per stack, so the samples
# are refusals; tests/tests/sms_*.rs sign real ones.
TWILIO_STATUS = {"AccountSid": "AC00000000000000000000000000000000", "ApiVersion": "2010-04-01",
                 "MessageSid": "SM00000000000000000000000000000001", "MessageStatus": "delivered",
                 "SmsSid": "SM00000000000000000000000000000001", "SmsStatus": "delivered", "To": "+15005550006"}
TWILIO_INBOUND = {"AccountSid": "AC00000000000000000000000000000000", "Body": "BA117 on 24 Dec",
                  "From": "+15005550006", "MessageSid": "SM00000000000000000000000000000002", "NumMedia": "0",
                  "To": "+15005550006"}

HISTORY = f"/v1/chat/conversations/{SOMEONE_ELSES_CONVERSATION}/messages"
VERIFY = f"/v1/chat/conversations/{SOMEONE_ELSES_CONVERSATION}/verification"
PARAMS = {"id": SOMEONE_ELSES_CONVERSATION}

EVENTS = {
    "health/get.200.json": http_event("GET", "/health", "GET /health"),
    "health/deep.200.json": http_event("GET", "/health", "GET /health", query={"deep": "true"}),
    "health/deep-malformed.400.json": http_event("GET", "/health", "GET /health", query={"deep": "yes"}),
    "session-anonymous/create.201.json": http_event("POST", "/v1/sessions/anonymous", "POST /v1/sessions/anonymous"),
    "session-me/user.200.json": http_event("GET", "/v1/sessions/me", "GET /v1/sessions/me", AS_USER),
    "session-me/anonymous.200.json": http_event("GET", "/v1/sessions/me", "GET /v1/sessions/me", AS_ANON),
    "session-me/no-credentials.401.json": http_event("GET", "/v1/sessions/me", "GET /v1/sessions/me"),
    "session-me/tampered-token.401.json": http_event(
        "GET", "/v1/sessions/me", "GET /v1/sessions/me", {"authorization": "Bearer " + USER_TOKEN[:-4] + "AAAA"}),
    "session-claim/without-anonymous-token.401.json": http_event(
        "POST", "/v1/sessions/claim", "POST /v1/sessions/claim", AS_USER),
    "session-claim/unknown-session.404.json": http_event(
        "POST", "/v1/sessions/claim", "POST /v1/sessions/claim", {**AS_USER, **AS_ANON}),
    "chat-message/new-conversation.201.json": http_event(
        "POST", "/v1/chat/messages", "POST /v1/chat/messages", AS_USER,
        json.dumps({"content": "Hello! Can you cover my flight BA117 on 24 Dec?"})),
    "chat-message/empty-content.422.json": http_event(
        "POST", "/v1/chat/messages", "POST /v1/chat/messages", AS_ANON, json.dumps({"content": "   "})),
    "chat-message/someone-elses-conversation.404.json": http_event(
        "POST", "/v1/chat/messages", "POST /v1/chat/messages", AS_USER,
        json.dumps({"content": "hi", "conversation_id": SOMEONE_ELSES_CONVERSATION})),
    "chat-history/someone-elses-conversation.404.json": http_event(
        "GET", HISTORY, "GET /v1/chat/conversations/{id}/messages", AS_USER, query={"limit": "20"}, params=PARAMS),
    "chat-history/limit-out-of-range.422.json": http_event(
        "GET", HISTORY, "GET /v1/chat/conversations/{id}/messages", AS_USER, query={"limit": "500"}, params=PARAMS),
    "chat-verification/someone-elses-conversation.404.json": http_event(
        "GET", VERIFY, "GET /v1/chat/conversations/{id}/verification", AS_USER, params=PARAMS),
    # Quote events avoid fixed future dates, which would turn into past dates and rot.
    "quote-create/forged-price.422.json": http_event(
        "POST", "/v1/quotes", "POST /v1/quotes", AS_ANON,
        json.dumps({"product_id": "PROD_DELAY_60", "premium_cents": 1,
                    "flight": {"number": "BA117", "origin": "LHR", "destination": "JFK",
                               "departure_date": "2027-01-15"}})),
    "quote-create/invalid-flight.422.json": http_event(
        "POST", "/v1/quotes", "POST /v1/quotes", AS_USER,
        json.dumps({"product_id": "PROD_DELAY_60",
                    "flight": {"number": "B", "origin": "LONDON", "destination": "JFK",
                               "departure_date": "2020-01-01"}})),
    "quote-create/unknown-product.422.json": http_event(
        "POST", "/v1/quotes", "POST /v1/quotes", AS_USER,
        json.dumps({"product_id": "PROD_NOPE",
                    "flight": {"number": "BA117", "origin": "LHR", "destination": "JFK",
                               "departure_date": "2099-01-01"}})),
    "cart-add/someone-elses-quote.404.json": http_event(
        "POST", "/v1/cart/items", "POST /v1/cart/items", {**AS_USER, "idempotency-key": "sample-event-1"},
        json.dumps({"quote_id": SOMEONE_ELSES_CONVERSATION})),
    "cart-get/user.200.json": http_event("GET", "/v1/cart", "GET /v1/cart", AS_USER),
    "cart-get/no-credentials.401.json": http_event("GET", "/v1/cart", "GET /v1/cart"),
    "cart-remove/someone-elses-item.404.json": http_event(
        "DELETE", f"/v1/cart/items/{SOMEONE_ELSES_CONVERSATION}", "DELETE /v1/cart/items/{id}", AS_USER,
        params={"id": SOMEONE_ELSES_CONVERSATION}),
    "checkout/empty-cart.409.json": http_event(
        "POST", "/v1/checkout", "POST /v1/checkout", AS_USER, json.dumps({"method": "wallet"})),
    "checkout/anonymous.401.json": http_event(
        "POST", "/v1/checkout", "POST /v1/checkout", AS_ANON, json.dumps({"method": "card"})),
    "checkout/unknown-method.422.json": http_event(
        "POST", "/v1/checkout", "POST /v1/checkout", AS_USER, json.dumps({"method": "cash"})),
    "orders-list/user.200.json": http_event("GET", "/v1/orders", "GET /v1/orders", AS_USER, query={"limit": "10"}),
    "orders-list/no-credentials.401.json": http_event("GET", "/v1/orders", "GET /v1/orders"),
    "order-get/someone-elses-order.404.json": http_event(
        "GET", f"/v1/orders/{SOMEONE_ELSES_CONVERSATION}", "GET /v1/orders/{id}", AS_USER,
        params={"id": SOMEONE_ELSES_CONVERSATION}),
    "subscription-create/anonymous.401.json": http_event(
        "POST", "/v1/subscriptions", "POST /v1/subscriptions", AS_ANON, json.dumps({"plan": "plus"})),
    "subscription-create/plan-not-on-sale.422.json": http_event(
        "POST", "/v1/subscriptions", "POST /v1/subscriptions", AS_USER, json.dumps({"plan": "gold"})),
    "subscription-get/user.200.json": http_event(
        "GET", "/v1/subscriptions/me", "GET /v1/subscriptions/me", AS_USER),
    "subscription-get/no-credentials.401.json": http_event(
        "GET", "/v1/subscriptions/me", "GET /v1/subscriptions/me"),
    "billing-portal-session/anonymous.401.json": http_event(
        "POST", "/v1/billing/portal-sessions", "POST /v1/billing/portal-sessions", AS_ANON),
    # Stripe's signatures expire after 300 s, so a signed sample would be stale; the tests
    # sign the bodies in events/stripe/ when they run. These two are refused on purpose.
    "stripe-webhook/missing-signature.400.json": http_event(
        "POST", "/webhooks/stripe", "POST /webhooks/stripe", {}, json.dumps(STRIPE_COMPLETED)),
    "stripe-webhook/stale-signature.400.json": http_event(
        "POST", "/webhooks/stripe", "POST /webhooks/stripe",
        {"stripe-signature": stripe_signature(json.dumps(STRIPE_COMPLETED), 1795305600)},
        json.dumps(STRIPE_COMPLETED)),
    "wallet-create/anonymous.401.json": http_event("POST", "/v1/wallets", "POST /v1/wallets", AS_ANON),
    "wallet-create/user.201.json": http_event(
        "POST", "/v1/wallets", "POST /v1/wallets", {**AS_USER, "idempotency-key": "sample-wallet-1"}),
    "wallet-get/no-credentials.401.json": http_event("GET", "/v1/wallets/me", "GET /v1/wallets/me"),
    "wallet-sign/too-long.422.json": http_event(
        "POST", "/v1/wallets/me/signatures", "POST /v1/wallets/me/signatures", AS_USER,
        json.dumps({"message": "x" * 4097})),
    "rewrap-wallet-keys/dry-run.json": {"dry_run": True},
    "retry-webhooks/every-5-minutes.json": scheduled_event({}),
    "reconcile-stripe/hourly.json": scheduled_event({}),
    "tone-analysis/calm.200.json": http_event(
        "POST", "/v1/tone/analyses", "POST /v1/tone/analyses", AS_ANON,
        json.dumps({"text": "The school called about a fight today; can we talk tonight?"})),
    "tone-analysis/empty.422.json": http_event(
        "POST", "/v1/tone/analyses", "POST /v1/tone/analyses", AS_USER, json.dumps({"text": ""})),
    "phone-verification-start/no-credentials.401.json": http_event(
        "POST", "/v1/phone/verifications", "POST /v1/phone/verifications", None, json.dumps({"phone": "+447911120958"})),
    "phone-verification-start/invalid-phone.422.json": http_event(
        "POST", "/v1/phone/verifications", "POST /v1/phone/verifications", AS_USER, json.dumps({"phone": "hello"})),
    "phone-verification-check/missing-code.422.json": http_event(
        "POST", "/v1/phone/verifications/check", "POST /v1/phone/verifications/check", AS_USER,
        json.dumps({"phone": "+447911120958"})),
    "phone-verification-check/anonymous.401.json": http_event(
        "POST", "/v1/phone/verifications/check", "POST /v1/phone/verifications/check", AS_ANON,
        json.dumps({"phone": "+447911120958", "code": "123456"})),
    "twilio-status-webhook/unsigned.403.json": twilio_form_event("/webhooks/twilio/status", TWILIO_STATUS),
    "twilio-status-webhook/forged-signature.403.json": twilio_form_event(
        "/webhooks/twilio/status", TWILIO_STATUS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    "twilio-inbound-webhook/forged-signature.403.json": twilio_form_event(
        "/webhooks/twilio/inbound", TWILIO_INBOUND, "kvajT1Ptam85bY51eRf/AJRuM3w="),
    "send-sms/every-minute.json": scheduled_event({}),
    "sweep-expired/hourly.json": scheduled_event({}),
    "verify-chains/nightly.json": scheduled_event({"full": False}),
    "migrate/deploy.json": {"reason": "post-deploy migration", "requested_by": "sam remote invoke"},
}

if __name__ == "__main__":
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "events")
    for name, event in {**EVENTS, **STRIPE_BODIES}.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(json.dumps(event, indent=2) + "\n")
    print(f"wrote {len(EVENTS) + len(STRIPE_BODIES)} events")
