-- wrk script for bench/scale.sh: GET /v1/auth/whoami, each request with the next token of a file.
--   wrk -tT ... -s bench/scale.lua URL -- TOKENS_FILE T
-- Every thread reads the whole file and starts at its own offset (thread n of T at n/T of the list), then
-- walks the list in order, wrapping around, so that the threads together touch every token. The status of
-- each answer is counted; done() prints the mix as "status CODE COUNT" lines.
tokens, index, statuses = {}, 1, {}  -- per thread (globals, for thread:get)
local threads, counter = {}, 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_number", counter)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = "Bearer " .. line end
  end
  local n, count = thread_number or 1, tonumber(args[2]) or 1
  index = math.floor((n - 1) * #tokens / math.max(count, n)) % math.max(#tokens, 1) + 1
end

function request()
  local token = tokens[index]
  index = index + 1
  if index > #tokens then index = 1 end
  return wrk.format("GET", nil, { ["Authorization"] = token })
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do total[status] = (total[status] or 0) + count end
  end
  local codes = {}
  for status in pairs(total) do table.insert(codes, status) end
  table.sort(codes)
  for _, status in ipairs(codes) do io.write(string.format("status %d %d\n", status, total[status])) end
end
