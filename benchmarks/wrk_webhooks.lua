-- Posts pre-signed Stripe events, each exactly once: thread k of n sends lines k, k+n, k+2n...
-- The file (WEBHOOK_EVENTS) holds one "signature<TAB>payload" per line.
-- The same JSON report as the page benchmarks.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "wrk_report.lua")

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  nthreads = tonumber(os.getenv("WRK_THREADS"))
  events = {}
  local n = 0
  for line in io.lines(os.getenv("WEBHOOK_EVENTS")) do
    if n % nthreads == id then
      local tab = line:find("\t", 1, true)
      table.insert(events, {line:sub(1, tab - 1), line:sub(tab + 1)})
    end
    n = n + 1
  end
  next_event = 1
end

function request()
  local event = events[next_event]
  if event == nil then
    -- Out of events: ask for the health check, which the report subtracts.
    return wrk.format("GET", "/healthz")
  end
  next_event = next_event + 1
  return wrk.format("POST", "/webhooks/stripe",
    {["Content-Type"] = "application/json", ["Stripe-Signature"] = event[1]}, event[2])
end
