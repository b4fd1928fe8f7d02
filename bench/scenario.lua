-- One wrk scenario, configured from the environment by bench/loadgen.py:
--   BENCH_METHOD, BENCH_BODY, BENCH_CONTENT_TYPE, BENCH_AUTHORIZATION, BENCH_EXPECT (the status every
--   response must have). At the end it prints one line, "BENCH_RESULT {json}", that loadgen.py parses.

wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
end
local content_type = os.getenv("BENCH_CONTENT_TYPE")
if content_type and content_type ~= "" then
  wrk.headers["Content-Type"] = content_type
end
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  expected = tonumber(os.getenv("BENCH_EXPECT") or "200")
  unexpected = 0
  first_unexpected = 0
end

function response(status, headers, body)
  if status ~= expected then
    unexpected = unexpected + 1
    if first_unexpected == 0 then
      first_unexpected = status
    end
  end
end

function done(summary, latency, requests)
  local bad, bad_status = 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("unexpected")
    local status = thread:get("first_unexpected")
    if bad_status == 0 and status ~= 0 then
      bad_status = status
    end
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "unexpected_status": %d, '
    .. '"first_unexpected_status": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, '
    .. '"timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, bad, bad_status, errors.connect, errors.read,
    errors.write, errors.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
