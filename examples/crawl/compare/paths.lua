-- wrk script: GET the paths of a URL file in turn (each wrk thread from the
-- top), so wrk loads the same pages as the crawl. Only the path of each
-- `http://host:port/path` line is used; run wrk against that host:port.
--   URLS=urls-ok.txt wrk -t2 -c64 -d10s -s examples/crawl/compare/paths.lua http://127.0.0.1:8088
local paths = {}
for line in io.lines(os.getenv("URLS") or "urls.txt") do
  local path = line:match("^%s*https?://[^/%s]+(/[^%s#]*)")
  if path then paths[#paths + 1] = path end
end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
