#!/usr/bin/env python3
"""/-/healthy latency while 32 clients send a wrong basic-auth password, and the time a
wrong password takes for a known and an unknown user (issue #16, item 5).

Run redline with a web.basic_auth_users entry alice (bcrypt cost 10, e.g.
perl -e 'print crypt("pw", q($2b$10$abcdefghijklmnopqrstuu))') listening on 127.0.0.1:PORT,
then: python3 benches/auth_starvation.py PORT
"""
import threading, time, urllib.request, base64, statistics, sys
port=sys.argv[1]
stop=False
def req(auth, path="/api/v1/labels"):
    r=urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization":"Basic "+base64.b64encode(auth).decode()})
    t=time.perf_counter()
    try: urllib.request.urlopen(r, timeout=120).read()
    except Exception: pass
    return (time.perf_counter()-t)*1000
def attacker():
    while not stop: req(b"alice:wrong")
def healthy(n):
    out=[]
    for _ in range(n):
        t=time.perf_counter(); urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=120).read(); out.append((time.perf_counter()-t)*1000); time.sleep(0.05)
    return out
print("idle /-/healthy ms median %.1f"%statistics.median(healthy(20)))
print("known user, wrong password ms", [round(req(b"alice:wrong")) for _ in range(3)])
print("unknown user ms", [round(req(b"mallory:wrong")) for _ in range(3)])
ts=[threading.Thread(target=attacker, daemon=True) for _ in range(32)]
[t.start() for t in ts]; time.sleep(2)
h=healthy(30); print("with 32 wrong-password clients: /-/healthy ms median %.1f max %.1f"%(statistics.median(h), max(h)))
stop=True
