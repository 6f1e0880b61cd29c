-- wrk script: POST a realistic (~19 KB) Claude Code Messages API request to /v1/messages.
--
--   wrk -t2 -c32 -d10s --latency -s bench/messages.lua http://127.0.0.1:PORT -- BODY_FILE STREAM [MODEL]
--
-- BODY_FILE is bench/request-body.json (it must contain `"stream": false` and the marker
-- BENCH_REQ_ID exactly once); STREAM is "true" or "false" (default false). Every request gets a
-- unique body (thread number and counter in place of the marker), as real clients never send
-- the same body twice; MODEL, when given, replaces the body's model (the balancer routes by it).
-- The unique bodies keep an in-flight deduplication or a response cache from turning
-- the run into a cache benchmark.

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

local prefix, suffix
local counter = 0

function init(args)
  local path = args[1] or "bench/request-body.json"
  local stream = args[2] or "false"
  local f = assert(io.open(path, "rb"), "cannot open body file " .. path)
  local body = f:read("*a")
  f:close()
  body = body:gsub("%s+$", "")
  local replaced
  body, replaced = body:gsub('"stream": false', '"stream": ' .. stream, 1)
  assert(replaced == 1, "body file has no \"stream\": false")
  if args[3] then
    body, replaced = body:gsub('"model":"[^"]*"', '"model":"' .. args[3] .. '"', 1)
    assert(replaced == 1, "body file has no \"model\"")
  end
  local s, e = body:find("BENCH_REQ_ID", 1, true)
  assert(s, "body file has no BENCH_REQ_ID marker")
  prefix = body:sub(1, s - 1)
  suffix = body:sub(e + 1)
  wrk.method = "POST"
  wrk.path = "/v1/messages"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["anthropic-version"] = "2023-06-01"
  wrk.headers["anthropic-beta"] = "claude-code-20250219,interleaved-thinking-2025-05-14"
  wrk.headers["x-api-key"] = "sk-ant-bench-client-key"
  wrk.headers["User-Agent"] = "claude-cli/2.0.0 (external, cli)"
end

function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, prefix .. tostring(tid) .. "-" .. tostring(counter) .. suffix)
end
