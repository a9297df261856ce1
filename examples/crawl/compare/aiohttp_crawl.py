"""The seed's pattern for the crawl's job, to compare with `crawl --url-file`.

asyncio + aiohttp: every URL a coroutine, `asyncio.gather` over all of them,
each request inside `async with semaphore` (asyncio.Semaphore(limit)), one
ClientSession, a total timeout per request. No hedging. It reads the same URL
files as the crawl (a UTF-8 byte-order mark, '#' comments) and prints a
one-line JSON summary with the crawl's `--json` names.

    pip install aiohttp
    python3 examples/crawl/compare/aiohttp_crawl.py URL_FILE [--limit 64] [--timeout 0.5]

examples/crawl/compare/README.md has the nginx set-up and the commands the
numbers in docs/benchmarks.md came from.
"""

import argparse
import asyncio
import json
import re
import time

import aiohttp


def read_urls(path):
    # utf-8-sig drops a byte-order mark; a '#' at the start of a line or
    # after a blank starts a comment, as in the crawl.
    with open(path, encoding="utf-8-sig") as f:
        lines = f.read().splitlines()
    return [u for u in (re.split(r"(?:^|\s)#", line)[0].strip() for line in lines) if u]


def percentile(sorted_ms, q):
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


async def crawl(urls, limit, timeout_s):
    semaphore = asyncio.Semaphore(limit)
    counts = {"ok": 0, "http_errors": 0, "timed_out": 0, "failed": 0}
    latencies_ms = []
    # The semaphore is the only bound, as in the seed (no connector limit).
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def fetch(url):
            async with semaphore:
                began = time.perf_counter()
                try:
                    async with session.get(url) as response:
                        await response.read()
                        status = response.status
                except asyncio.TimeoutError:
                    counts["timed_out"] += 1
                    return
                except aiohttp.ClientError:
                    counts["failed"] += 1
                    return
                latencies_ms.append((time.perf_counter() - began) * 1000)
                counts["ok" if status < 400 else "http_errors"] += 1

        began = time.perf_counter()
        await asyncio.gather(*(fetch(url) for url in urls))
        wall = time.perf_counter() - began
    latencies_ms.sort()
    return {
        "urls": len(urls),
        **counts,
        "requests_sent": len(urls),
        "limit": limit,
        "wall_ms": round(wall * 1000, 1),
        "requests_per_s": round(len(urls) / wall, 1),
        "latency_of": "answered URLs (ok + HTTP errors)",
        "p50_ms": round(percentile(latencies_ms, 0.5), 2),
        "p90_ms": round(percentile(latencies_ms, 0.9), 2),
        "p99_ms": round(percentile(latencies_ms, 0.99), 2),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url_file")
    parser.add_argument("--limit", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=0.5, help="seconds per request")
    args = parser.parse_args()
    summary = asyncio.run(crawl(read_urls(args.url_file), args.limit, args.timeout))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
