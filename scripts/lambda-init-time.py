#!/usr/bin/env python3
"""Cold-start init time of Lambda bootstrap binaries, measured the way
Lambda reports "Init Duration": from process start until the runtime asks
the Runtime API for its first event (GET /runtime/invocation/next).

A fake Runtime API on 127.0.0.1 answers that request by holding it; the
binary is then killed. Each binary is started RUNS times; the median, min
and max are printed.

usage: lambda-init-time.py [--runs N] BINARY...   (host-architecture
binaries: target/release/<name> or an unzipped bootstrap)
"""

import argparse
import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

NEXT = "/2018-06-01/runtime/invocation/next"


class Api(http.server.BaseHTTPRequestHandler):
    asked = None  # threading.Event set on the first /next

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path == NEXT and Api.asked is not None:
            Api.asked.set()
            time.sleep(2)  # hold it; the process is killed meanwhile
        self.send_response(404)
        self.end_headers()

    def do_POST(self):  # noqa: N802
        # /runtime/init/error: the function failed to start.
        length = int(self.headers.get("content-length", 0))
        body = self.rfile.read(length).decode(errors="replace")
        sys.stderr.write(f"init error reported: {body}\n")
        self.send_response(202)
        self.end_headers()

    def log_message(self, *_):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("binaries", nargs="+")
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    env = dict(
        os.environ,
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{port}",
        AWS_LAMBDA_FUNCTION_NAME="init-time",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_LOG_STREAM_NAME="local",
        AWS_LAMBDA_LOG_GROUP_NAME="local",
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        STRATUS_S3_BUCKET="init-time",
        STRATUS_BEARER_TOKEN_SHA256="0" * 64,
    )
    for binary in args.binaries:
        times = []
        for i in range(args.runs):
            Api.asked = threading.Event()
            start = time.perf_counter()
            p = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
            ok = Api.asked.wait(timeout=20)
            elapsed = time.perf_counter() - start
            p.kill()
            _, err = p.communicate()
            if not ok:
                sys.exit(f"{binary}: no request for an event within 20 s; "
                         f"stderr: {err.decode(errors='replace')[-500:]}")
            times.append(elapsed * 1000)
        size = os.path.getsize(binary)
        name = os.path.basename(binary)
        if name == "bootstrap":
            name = os.path.basename(os.path.dirname(binary))
        print(f"{name}: {binary} {size / 1e6:.1f} MB, init median "
              f"{statistics.median(times):.1f} ms (min {min(times):.1f}, "
              f"max {max(times):.1f}, {args.runs} runs)")
    server.shutdown()


if __name__ == "__main__":
    main()
