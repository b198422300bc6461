"""Synthetic credentials for the evaluation corpus.

Each format below follows the publicly documented shape of a real credential (prefix, alphabet,
length, and where the vendor publishes one, the checksum). Values are drawn from a seeded
`random.Random`, so the corpus is the same on every run; none of them is or was a live key.

A sample is a short carrier text (a .env line, a shell export, a config file, a chat message
asking for help) with one or two secrets in it. The builder records the byte span and the
expected type of every secret it inserts.
"""

from __future__ import annotations

import base64
import json
import random
import string
import zlib

UPPER = string.ascii_uppercase
LOWER = string.ascii_lowercase
DIGITS = string.digits
ALNUM = UPPER + LOWER + DIGITS
HEX = "0123456789abcdef"
B64URL = ALNUM + "-_"
B64 = ALNUM + "+/"
BASE32 = UPPER + "234567"
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"


def pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def base62(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = (DIGITS + UPPER + LOWER)[r] + out
    return out.rjust(width, "0")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# --- formats: each takes an rng and returns (type, value) ---


def aws_access_key_id(rng):
    return "aws_access_key_id", "AKIA" + pick(rng, BASE32, 16)


def aws_secret_access_key(rng):
    return "aws_secret_access_key", pick(rng, B64, 40)


def github_classic(rng):
    body = pick(rng, ALNUM, 30)
    return "github_pat_classic", "ghp_" + body + base62(zlib.crc32(body.encode()), 6)


def github_oauth(rng):
    body = pick(rng, ALNUM, 30)
    return "github_oauth_token", "gho_" + body + base62(zlib.crc32(body.encode()), 6)


def github_fine_grained(rng):
    return "github_fine_grained_pat", "github_pat_" + pick(rng, ALNUM, 22) + "_" + pick(rng, ALNUM, 59)


def gitlab_pat(rng):
    return "gitlab_pat", "glpat-" + pick(rng, B64URL, 20)


def slack_bot(rng):
    return "slack_bot_token", "xoxb-%s-%s-%s" % (
        pick(rng, DIGITS, 12),
        pick(rng, DIGITS, 13),
        pick(rng, ALNUM, 24),
    )


def slack_webhook(rng):
    return "slack_webhook_url", "https://hooks.slack.com/services/T%s/B%s/%s" % (
        pick(rng, UPPER + DIGITS, 8),
        pick(rng, UPPER + DIGITS, 10),
        pick(rng, ALNUM, 24),
    )


def stripe_secret(rng):
    return "stripe_secret_key", "sk_live_" + pick(rng, ALNUM, rng.choice([24, 99]))


def stripe_restricted(rng):
    return "stripe_restricted_key", "rk_live_" + pick(rng, ALNUM, rng.choice([24, 99]))


def google_api_key(rng):
    return "google_api_key", "AIza" + pick(rng, B64URL, 35)


def openai_legacy(rng):
    return "openai_api_key", "sk-" + pick(rng, ALNUM, 20) + "T3BlbkFJ" + pick(rng, ALNUM, 20)


def openai_project(rng):
    return "openai_project_key", "sk-proj-" + pick(rng, B64URL, 74) + "T3BlbkFJ" + pick(rng, B64URL, 74)


def anthropic(rng):
    return "anthropic_api_key", "sk-ant-api03-" + pick(rng, B64URL, 93) + "AA"


def huggingface(rng):
    return "huggingface_token", "hf_" + pick(rng, UPPER + LOWER, 34)


def npm(rng):
    body = pick(rng, ALNUM, 30)
    return "npm_access_token", "npm_" + body + base62(zlib.crc32(body.encode()), 6)


def pypi(rng):
    return "pypi_upload_token", "pypi-AgEIcHlwaS5vcmc" + pick(rng, B64URL, 70)


def sendgrid(rng):
    return "sendgrid_api_key", "SG." + pick(rng, B64URL, 22) + "." + pick(rng, B64URL, 43)


def twilio_api_key(rng):
    return "twilio_api_key", "SK" + pick(rng, HEX, 32)


def jwt(rng):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {
        "sub": str(rng.randrange(10**6, 10**7)),
        "name": rng.choice(["svc-billing", "ci-runner", "reporting"]),
        "iat": rng.randrange(1_600_000_000, 1_750_000_000),
    }
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = b64url(bytes(rng.randrange(256) for _ in range(32)))
    return "jwt", f"{header}.{payload}.{signature}"


def pem_block(rng, label: str, nbytes: int) -> str:
    body = base64.b64encode(bytes(rng.randrange(256) for _ in range(nbytes))).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----"


def rsa_private_key(rng):
    return "private_key_rsa", pem_block(rng, "RSA PRIVATE KEY", 600)


def pkcs8_private_key(rng):
    return "private_key_pkcs8", pem_block(rng, "PRIVATE KEY", 600)


def openssh_private_key(rng):
    return "private_key_openssh", pem_block(rng, "OPENSSH PRIVATE KEY", 300)


def ec_private_key(rng):
    return "private_key_ec", pem_block(rng, "EC PRIVATE KEY", 120)


def password_word(rng) -> str:
    # Looks like what people really choose: words, digits and a symbol, or a random run.
    if rng.random() < 0.5:
        words = ["Harbor", "violet", "Granite", "maple", "Sunset", "otter", "Copper", "delta"]
        return rng.choice(words) + rng.choice(words) + pick(rng, DIGITS, 3) + rng.choice("!#%*@$")
    return pick(rng, ALNUM + "!#%*", 18)


def postgres_url(rng):
    user = rng.choice(["app", "billing", "analytics", "svc_orders"])
    host = rng.choice(["db.internal.acme-corp.net", "10.20.3.14", "orders-db.prod.lan"])
    return "postgres_connection_string", "postgres://%s:%s@%s:5432/%s" % (
        user,
        pick(rng, ALNUM, 20),
        host,
        rng.choice(["orders", "main", "warehouse"]),
    )


def mongodb_url(rng):
    return "mongodb_connection_string", "mongodb+srv://%s:%s@cluster0.%s.mongodb.net/prod" % (
        rng.choice(["admin", "reporting", "etl"]),
        pick(rng, ALNUM, 16),
        pick(rng, LOWER + DIGITS, 5),
    )


def redis_url(rng):
    return "redis_connection_string", "redis://default:%s@cache.%s.internal:6379/0" % (
        pick(rng, ALNUM, 24),
        rng.choice(["eu1", "us2", "ap3"]),
    )


def azure_storage(rng):
    return "azure_storage_connection_string", (
        "DefaultEndpointsProtocol=https;AccountName=%s;AccountKey=%s==;EndpointSuffix=core.windows.net"
        % (rng.choice(["acmelogs", "prodbackups", "mediastore"]) + pick(rng, DIGITS, 2), pick(rng, B64, 86))
    )


def discord_webhook(rng):
    return "discord_webhook_url", "https://discord.com/api/webhooks/%s/%s" % (
        pick(rng, DIGITS, 18),
        pick(rng, B64URL, 68),
    )


def telegram(rng):
    return "telegram_bot_token", "%s:AA%s" % (pick(rng, DIGITS, 10), pick(rng, B64URL, 33))


def digitalocean(rng):
    return "digitalocean_pat", "dop_v1_" + pick(rng, HEX, 64)


def shopify(rng):
    return "shopify_access_token", "shpat_" + pick(rng, HEX, 32)


def databricks(rng):
    return "databricks_token", "dapi" + pick(rng, HEX, 32)


def sentry_dsn(rng):
    return "sentry_dsn", "https://%s@o%s.ingest.sentry.io/%s" % (
        pick(rng, HEX, 32),
        pick(rng, DIGITS, 6),
        pick(rng, DIGITS, 7),
    )


def groq(rng):
    return "groq_api_key", "gsk_" + pick(rng, ALNUM, 52)


def vault(rng):
    return "vault_service_token", "hvs." + pick(rng, B64URL, 90)


def linear(rng):
    return "linear_api_key", "lin_api_" + pick(rng, ALNUM, 40)


def age_key(rng):
    return "age_secret_key", "AGE-SECRET-KEY-1" + pick(rng, BECH32, 58)


def doppler(rng):
    return "doppler_service_token", "dp.st.prd." + pick(rng, ALNUM, 43)


def mailgun(rng):
    return "mailgun_private_api_key", "key-" + pick(rng, HEX, 32)


def generic_password(rng):
    return "generic_password_assignment", password_word(rng)


def generic_secret(rng):
    return "generic_secret_assignment", pick(rng, ALNUM, 32)


FORMATS = [
    aws_access_key_id,
    github_classic,
    github_oauth,
    github_fine_grained,
    gitlab_pat,
    slack_bot,
    slack_webhook,
    stripe_secret,
    stripe_restricted,
    google_api_key,
    openai_legacy,
    openai_project,
    anthropic,
    huggingface,
    npm,
    pypi,
    sendgrid,
    twilio_api_key,
    jwt,
    rsa_private_key,
    pkcs8_private_key,
    openssh_private_key,
    ec_private_key,
    postgres_url,
    mongodb_url,
    redis_url,
    azure_storage,
    discord_webhook,
    telegram,
    digitalocean,
    shopify,
    databricks,
    sentry_dsn,
    groq,
    vault,
    linear,
    age_key,
    doppler,
    mailgun,
]

# Carriers: `{v}` is the secret, `{var}` a variable name fitting its type. `{v}` occurs once.
CARRIERS = [
    "{var}={v}",
    "export {var}={v}",
    'export {var}="{v}"',
    "Here's my config, why does the request still fail with 401?\n{var}: {v}",
    '{{"{var_lower}": "{v}", "region": "eu-west-1"}}',
    "I accidentally pasted this into the team channel, how do I revoke it? {v}",
    "docker run -e {var}={v} myapp:latest",
    "{var_lower} = \"{v}\"  # TODO move to vault",
    "settings:\n  {var_lower}: {v}\n  timeout: 30",
    "curl -s https://api.internal.example/v2/status -H 'X-Api-Key: {v}'",
]

PEM_CARRIERS = [
    "{v}",
    "Can you tell me why ssh says 'invalid format' for this key?\n{v}",
    "key.pem contents:\n{v}\nsaved with chmod 600",
]

URL_CARRIERS = [
    "{var}={v}",
    "The service can't connect, this is the string we use: {v}",
    "conn = connect(\"{v}\")",
    "webhook/url in our config: {v}",
]

# Generic assignments: the variable name is the only thing saying it is a secret.
GENERIC_CARRIERS = {
    "generic_password_assignment": [
        'DB_PASSWORD="{v}"',
        "password: {v}",
        "spring.datasource.password={v}",
        "The admin password is {v}, please change it after the demo.",
    ],
    "generic_secret_assignment": [
        "CLIENT_SECRET={v}",
        'secret_key = "{v}"',
        "api_secret: {v}",
        "WEBHOOK_SIGNING_SECRET={v}",
    ],
}

VARS = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "github_pat_classic": "GITHUB_TOKEN",
    "github_oauth_token": "GH_OAUTH_TOKEN",
    "github_fine_grained_pat": "GH_TOKEN",
    "gitlab_pat": "GITLAB_TOKEN",
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "stripe_secret_key": "STRIPE_SECRET_KEY",
    "stripe_restricted_key": "STRIPE_KEY",
    "google_api_key": "GOOGLE_API_KEY",
    "openai_api_key": "OPENAI_API_KEY",
    "openai_project_key": "OPENAI_API_KEY",
    "anthropic_api_key": "ANTHROPIC_API_KEY",
    "huggingface_token": "HF_TOKEN",
    "npm_access_token": "NPM_TOKEN",
    "pypi_upload_token": "TWINE_PASSWORD",
    "sendgrid_api_key": "SENDGRID_API_KEY",
    "twilio_api_key": "TWILIO_API_KEY",
    "jwt": "AUTH_TOKEN",
    "telegram_bot_token": "TELEGRAM_TOKEN",
    "digitalocean_pat": "DIGITALOCEAN_TOKEN",
    "shopify_access_token": "SHOPIFY_TOKEN",
    "databricks_token": "DATABRICKS_TOKEN",
    "groq_api_key": "GROQ_API_KEY",
    "vault_service_token": "VAULT_TOKEN",
    "linear_api_key": "LINEAR_API_KEY",
    "age_secret_key": "AGE_KEY",
    "doppler_service_token": "DOPPLER_TOKEN",
    "mailgun_private_api_key": "MAILGUN_API_KEY",
}

URL_TYPES = {
    "postgres_connection_string": "DATABASE_URL",
    "mongodb_connection_string": "MONGO_URI",
    "redis_connection_string": "REDIS_URL",
    "azure_storage_connection_string": "AZURE_STORAGE_CONNECTION_STRING",
    "slack_webhook_url": "SLACK_WEBHOOK_URL",
    "discord_webhook_url": "DISCORD_WEBHOOK",
    "sentry_dsn": "SENTRY_DSN",
}


def fill(carrier: str, value: str, var: str) -> tuple[str, int]:
    """Returns the carrier text with the secret in place and the secret's character offset."""
    head, tail = carrier.split("{v}")
    head = head.format(var=var, var_lower=var.lower())
    tail = tail.format(var=var, var_lower=var.lower())
    return head + value + tail, len(head)


def samples(seed: int, per_format: int) -> list[dict]:
    """Generates `per_format` samples of every format, plus paired AWS keys and generic
    assignments. Each sample: {"text", "secrets": [(char_start, char_end, type)], "format"}."""
    rng = random.Random(seed)
    out = []
    for fmt in FORMATS:
        for _ in range(per_format):
            kind, value = fmt(rng)
            if kind.startswith("private_key"):
                carrier, var = rng.choice(PEM_CARRIERS), ""
            elif kind in URL_TYPES:
                carrier, var = rng.choice(URL_CARRIERS), URL_TYPES[kind]
            else:
                carrier, var = rng.choice(CARRIERS), VARS[kind]
            text, start = fill(carrier, value, var)
            out.append({"text": text, "secrets": [(start, start + len(value), kind)], "format": fmt.__name__})
    # An AWS key pair in a credentials file: two secrets in one text.
    for _ in range(per_format):
        _, key_id = aws_access_key_id(rng)
        _, secret = aws_secret_access_key(rng)
        head = "[default]\naws_access_key_id = "
        mid = "\naws_secret_access_key = "
        text = head + key_id + mid + secret + "\nregion = us-east-1"
        s1 = len(head)
        s2 = s1 + len(key_id) + len(mid)
        out.append(
            {
                "text": text,
                "secrets": [
                    (s1, s1 + len(key_id), "aws_access_key_id"),
                    (s2, s2 + len(secret), "aws_secret_access_key"),
                ],
                "format": "aws_credentials_file",
            }
        )
    for fmt in (generic_password, generic_secret):
        for _ in range(per_format):
            kind, value = fmt(rng)
            text, start = fill(rng.choice(GENERIC_CARRIERS[kind]), value, "")
            out.append({"text": text, "secrets": [(start, start + len(value), kind)], "format": fmt.__name__})
    return out


def negatives(seed: int, count: int) -> list[str]:
    """Random identifiers that are not secrets: UUIDs, git object ids, SHA-256 digests."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            h = pick(rng, HEX, 32)
            uuid = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{rng.choice('89ab')}{h[17:20]}-{h[20:]}"
            out.append(f"Job {uuid} finished in {rng.randrange(2, 90)} s.")
        elif kind == 1:
            out.append(f"Reverted commit {pick(rng, HEX, 40)} because it broke the build.")
        else:
            out.append(f"sha256 of the release tarball: {pick(rng, HEX, 64)}")
    return out
