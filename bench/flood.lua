-- wrk script for bench/flood.sh: GET /v1/auth/whoami with a bearer token per request.
--   wrk ... -s bench/flood.lua URL -- flood           a new well-formed UNKNOWN token every request
--   wrk ... -s bench/flood.lua URL -- valid TOKEN     the valid TOKEN every request
--   wrk ... -s bench/flood.lua URL -- spread N        a new unknown token every request, each from one of N
--                                                     client addresses (10.0.0.0 onwards) in X-Forwarded-For
-- Both modes do the same client-side work per request (a token is generated and checksummed in both;
-- the valid mode throws it away), so that wrk's own cost does not differ between the two runs.
--
-- A token is `<key_id>:<secret>` (Sources/Keysmith/Domain/APIKeyToken.swift): 14 random lowercase letters,
-- ':', then the secret: the prefix `ks_`, 32 random base62 characters, and 6 base62 characters (most
-- significant first) of the CRC-32 (zlib's) of everything before them, `<key_id>:ks_<random>` included.
-- The checksum is valid, so the server cannot refuse it before looking the key id up.
-- Each response's status is counted per thread; done() prints the mix.

local bit = require("bit")
local band, bxor, rshift = bit.band, bit.bxor, bit.rshift
local byte, char, concat, floor = string.byte, string.char, table.concat, math.floor

local ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
local PREFIX = "ks_"

local crc_table = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if band(c, 1) == 1 then c = bxor(rshift(c, 1), 0xEDB88320) else c = rshift(c, 1) end
  end
  crc_table[i] = c
end

local function crc32(s)
  local crc = 0xFFFFFFFF
  for i = 1, #s do
    crc = bxor(crc_table[band(bxor(crc, byte(s, i)), 0xFF)], rshift(crc, 8))
  end
  crc = bxor(crc, 0xFFFFFFFF)
  if crc < 0 then crc = crc + 4294967296 end
  return crc
end

local function base62(value, width)
  local digits = {}
  for i = width, 1, -1 do
    local d = value % 62
    digits[i] = ALPHABET:sub(d + 1, d + 1)
    value = floor(value / 62)
  end
  return concat(digits)
end

local letters, random62 = {}, {}
local random = math.random

local function new_token()
  for i = 1, 14 do letters[i] = char(random(97, 122)) end
  for i = 1, 32 do
    local d = random(1, 62)
    random62[i] = ALPHABET:sub(d, d)
  end
  local body = concat(letters) .. ":" .. PREFIX .. concat(random62)
  return body .. base62(crc32(body), 6)
end

-- main thread: hand each thread its number, collect the threads for done()
local threads, counter = {}, 0
function setup(thread)
  counter = counter + 1
  thread:set("thread_number", counter)
  table.insert(threads, thread)
end

-- per thread
mode, valid_token, addresses, statuses, samples = "flood", nil, 0, {}, {}

function init(args)
  mode = args[1] or "flood"
  valid_token = args[2]
  if mode == "spread" then addresses = tonumber(args[2]) end
  math.randomseed(os.time() * 1000 + (thread_number or 0) * 7919 + floor(os.clock() * 1e6))
  if mode == "sample" then  -- for checking the format: three tokens, printed by done()
    for i = 1, 3 do samples[i] = new_token() end
  end
end

function request()
  local token = new_token()
  if mode == "valid" then token = valid_token end
  local headers = { ["Authorization"] = "Bearer " .. token }
  if mode == "spread" then
    local n = random(0, addresses - 1)
    headers["X-Forwarded-For"] = "10." .. floor(n / 65536) % 256 .. "." .. floor(n / 256) % 256 .. "." .. n % 256
  end
  return wrk.format("GET", nil, headers)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do total[status] = (total[status] or 0) + count end
    for _, token in ipairs(thread:get("samples") or {}) do io.write("sample ", token, "\n") end
  end
  local keys = {}
  for status in pairs(total) do table.insert(keys, status) end
  table.sort(keys)
  for _, status in ipairs(keys) do io.write(string.format("status %d %d\n", status, total[status])) end
end
