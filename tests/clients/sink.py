#!/usr/bin/env python3
# A tiny SMTP relayhost for the client checks, on 127.0.0.1 only: accepts everything, writes
# each message to OUT_DIR/<n>.eml with the envelope on top ("MAIL FROM:<...>", one
# "RCPT TO:<...>" each, a blank line), dot-stuffing undone, and writes its port to READY_FILE
# once listening. Usage: sink.py OUT_DIR READY_FILE
import os, socket, sys, threading

out_dir, ready_path = sys.argv[1], sys.argv[2]
counter = [0]
lock = threading.Lock()

def serve(conn):
    conn.settimeout(60)
    reader = conn.makefile("rb")
    def send(line):
        conn.sendall(line.encode() + b"\r\n")
    send("220 sink.test ESMTP")
    envelope = []
    while True:
        line = reader.readline()
        if not line:
            return
        text = line.rstrip(b"\r\n").decode("utf-8", "replace")
        verb = text[:4].upper()
        if verb == "EHLO":
            send("250-sink.test"); send("250-PIPELINING"); send("250 8BITMIME")
        elif verb == "HELO":
            send("250 sink.test")
        elif verb == "MAIL":
            envelope = [text]; send("250 2.1.0 Ok")
        elif verb == "RCPT":
            envelope.append(text); send("250 2.1.5 Ok")
        elif verb == "DATA":
            send("354 End data with <CR><LF>.<CR><LF>")
            body = []
            while True:
                data_line = reader.readline()
                if not data_line:
                    return
                if data_line in (b".\r\n", b".\n"):
                    break
                body.append(data_line[1:] if data_line.startswith(b".") else data_line)
            with lock:
                counter[0] += 1
                number = counter[0]
            path = os.path.join(out_dir, "%d.eml" % number)
            with open(path + ".tmp", "wb") as f:
                f.write("\n".join(envelope).encode() + b"\n\n" + b"".join(body))
            os.rename(path + ".tmp", path)
            send("250 2.0.0 Ok: queued as SINK%d" % number)
        elif verb in ("RSET", "NOOP"):
            send("250 2.0.0 Ok")
        elif verb == "QUIT":
            send("221 2.0.0 Bye"); return
        else:
            send("502 5.5.2 Error: command not recognized")

def handle(conn):
    try:
        serve(conn)
    except OSError:
        pass
    finally:
        conn.close()

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(16)
with open(ready_path + ".tmp", "w") as f:
    f.write("%d\n" % listener.getsockname()[1])
os.rename(ready_path + ".tmp", ready_path)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
