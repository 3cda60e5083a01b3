-- Benchmarks only (docs/benchmarks.md): wrk posts each prepared submission once
-- (benches/setup.py writes them), spread over the threads; a thread stops when its share is sent.
local lines = {}
for line in io.lines(os.getenv("SUBMISSIONS")) do
  lines[#lines + 1] = line
end
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  nthreads = tonumber(os.getenv("WRK_THREADS") or "2")
  next_index = id + 1
  non2xx = 0
end

function request()
  if next_index > #lines then
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  local path, token, key, body = lines[next_index]:match("([^\t]+)\t([^\t]+)\t([^\t]+)\t(.*)")
  next_index = next_index + nthreads
  return wrk.format("POST", path, {
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = key,
    ["Content-Type"] = "application/json",
  }, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + (t:get("non2xx") or 0) end
  io.write(string.format("non2xx %d\n", bad))
end
