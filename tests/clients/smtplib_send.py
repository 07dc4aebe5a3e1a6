"""Sends one message with Python's smtplib, for tests/clients/smtplib.sh.

Usage: smtplib_send.py PORT MARKER. Talks only to 127.0.0.1; prints the server's replies
(smtplib debug output) to stderr and exits non-zero when any command is refused.
"""
import smtplib
import sys
from email.message import EmailMessage


def main() -> int:
    port, marker = int(sys.argv[1]), sys.argv[2]
    message = EmailMessage()
    message["From"] = "x@domain.local"
    message["To"] = "student@domain.local"
    message["Subject"] = marker
    message.set_content(f"Sent by smtplib: {marker}\n.line starting with a dot\n")
    # local_hostname avoids a DNS lookup of our own name; timeout bounds every read.
    with smtplib.SMTP("127.0.0.1", port, local_hostname="smtplib.example", timeout=30) as smtp:
        smtp.set_debuglevel(1)
        refused = smtp.send_message(message)
        if refused:
            print(f"refused recipients: {refused}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
