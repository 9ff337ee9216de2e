"""A real SMTP server on loopback for redline's email tests (aiosmtpd, Debian's
python3-aiosmtpd).

Every message received is parsed with Python's `email` package and written as one JSON
file (`<n>.json`) in the output directory: envelope, headers, MIME parts (decoded), whether
the session was encrypted and who authenticated. Prints `READY <port>` once listening and
runs until killed.

Options:
  --out DIR             where to write messages (required)
  --auth USER:PASS      advertise AUTH (PLAIN, LOGIN) and require it
  --starttls CERT KEY   offer STARTTLS with this certificate
  --smtps CERT KEY      implicit TLS (the whole session is TLS)
  --reject-rcpt REPLY   answer RCPT TO with REPLY (e.g. "550 5.1.1 no such user")
"""

import argparse
import email
import email.policy
import json
import os
import socket
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, out, reject_rcpt):
        self.out = out
        self.reject_rcpt = reject_rcpt
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_rcpt:
            return self.reject_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        parts = []
        for part in msg.walk():
            if part.is_multipart():
                continue
            parts.append(
                {
                    "content_type": part.get_content_type(),
                    "body": part.get_content(),
                }
            )
        login = session.auth_data
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "content_type": msg.get_content_type(),
            "headers": {k: str(v) for k, v in msg.items()},
            "parts": parts,
            "tls": session.ssl is not None,
            "helo": session.host_name,
            "auth_user": login.login.decode() if isinstance(login, LoginPassword) else None,
        }
        with self.lock:
            self.count += 1
            path = os.path.join(self.out, f"{self.count}.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, path)
        return "250 Message accepted for delivery"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    return check


def tls_context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--auth")
    p.add_argument("--starttls", nargs=2)
    p.add_argument("--smtps", nargs=2)
    p.add_argument("--reject-rcpt")
    a = p.parse_args()

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()

    kwargs = {}
    if a.auth:
        user, password = a.auth.split(":", 1)
        kwargs.update(
            authenticator=authenticator(user, password),
            auth_required=True,
            auth_require_tls=False,
        )
    if a.starttls:
        kwargs.update(tls_context=tls_context(*a.starttls), require_starttls=False)
    if a.smtps:
        kwargs.update(ssl_context=tls_context(*a.smtps))
    controller = Controller(
        Sink(a.out, a.reject_rcpt), hostname="127.0.0.1", port=port, **kwargs
    )
    controller.start()
    print(f"READY {port}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
