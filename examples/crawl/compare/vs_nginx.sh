#!/bin/sh
# The link-following crawl against nginx serving `crawl --write-site`, next
# to wrk fetching the same pages and the seed's asyncio + aiohttp pattern
# (aiohttp_crawl.py) fetching the first 20,000 of them, at each limit: the
# numbers and same-run ratios in the crawl's report. Needs nginx, wrk and
# `pip install aiohttp`. Run from the repository root:
#   sh examples/crawl/compare/vs_nginx.sh [DIR [PORT [PAGES]]]
set -e
dir=${1:-/tmp/crawl-site}
port=${2:-18431}
pages=${3:-100000}
crawl=target/release/examples/crawl
cargo build --release --example crawl
if [ ! -f "$dir/nginx.conf" ]; then
  $crawl --write-site "$dir" --pages "$pages" --hosts 1 --listen "127.0.0.1:$port"
fi
nginx -p "$dir/" -c nginx.conf
trap 'nginx -p "$dir/" -c nginx.conf -s stop' EXIT
sleep 0.5
head -20000 "$dir/urls.txt" | sed "s#http://a.test#http://127.0.0.1:$port#" > "$dir/urls-aiohttp.txt"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
for c in 16 64 256; do
  for run in 1 2; do
    cr=$($crawl --seed-url http://a.test/ --connect-to "127.0.0.1:$port" --limit $c \
          --timeout 5s --stall off --json 2>/dev/null | json pages_per_s)
    wk=$(URLS="$dir/urls.txt" wrk -t1 -c$c -d5s -s examples/crawl/compare/paths.lua \
          "http://127.0.0.1:$port" | awk '/Requests\/sec/{print $2}')
    py=$(python3 examples/crawl/compare/aiohttp_crawl.py "$dir/urls-aiohttp.txt" --limit $c \
          --timeout 5 | json requests_per_s)
    python3 -c "print('limit $c run $run: crawl %.0f pages/s, wrk %.0f req/s, aiohttp %.0f req/s; crawl/wrk %.2f, crawl/aiohttp %.2f' % ($cr, $wk, $py, $cr / $wk, $cr / $py))"
  done
done
