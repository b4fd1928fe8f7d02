"""Clients that sign in over and over (each sign-in is an scrypt password check), for a bounded time.

Run as `python -m bench.login_storm --port P --clients 4 --seconds S`, with `{"email": ..., "password": ...}`
on stdin (never on the command line). Each client does what a browser does: GET /login for the form and its
CSRF cookie, then POST /login, expecting the 303 back to return_to. Prints one JSON line at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import sys
import threading
import time
from urllib.parse import urlencode

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in_once(connection: http.client.HTTPConnection, port: int, email: str, password: str) -> int:
    """One complete sign-in; returns the POST's status (303 on success)."""
    return_to = f"http://127.0.0.1:{port}/bench-return"
    connection.request("GET", "/login?" + urlencode({"return_to": return_to}))
    response = connection.getresponse()
    page = response.read().decode("utf-8", "replace")
    cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
    match = CSRF_FIELD.search(page)
    if response.status != 200 or not match or not cookie:
        return response.status if response.status != 200 else 0
    form = urlencode({"email": email, "password": password, "return_to": return_to, "csrf_token": match.group(1)})
    connection.request("POST", "/login", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    response = connection.getresponse()
    response.read()
    return response.status


def client(port: int, email: str, password: str, deadline: float, tally: dict, lock: threading.Lock) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.monotonic() < deadline:
        try:
            status = sign_in_once(connection, port, email, password)
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            status = -1
        with lock:
            key = "logins" if status == 303 else "failures"
            tally[key] += 1
            if status != 303:
                tally["statuses"][str(status)] = tally["statuses"].get(str(status), 0) + 1
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    account = json.loads(sys.stdin.readline())
    tally = {"logins": 0, "failures": 0, "statuses": {}}
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + args.seconds
    threads = [threading.Thread(target=client, args=(args.port, account["email"], account["password"], deadline,
                                                     tally, lock)) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tally["seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(tally), flush=True)


if __name__ == "__main__":
    main()
