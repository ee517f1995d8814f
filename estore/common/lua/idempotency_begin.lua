-- Claim a request id, take over a claim whose owner stopped renewing it, or report what became
-- of an earlier claim (AIP-155).
-- KEYS[1] the request id's record; ARGV[1] fingerprint of the request, ARGV[2] lease in ms,
-- ARGV[3] this claim's token (only the claim holding it may finish it), ARGV[4] the claiming
-- instance, ARGV[5] how long the record lives from now, in seconds (the outcome's keep time and
-- a margin: recording the outcome then needs no EXPIRE of its own), ARGV[7] now, in ms (the
-- caller's clock; leases are compared on the callers' clocks).
-- The record is one string, 'state|fingerprint|claim|owner|lease_until|response' (written in
-- one SET NX EX); a record of the format before, a hash of those fields, is still read (an
-- outcome is kept 24 to 25 hours) and replaced by a string when its claim is taken over.
-- Optional reads for the operation, so that it needs no round trip of its own: KEYS[2..] are
-- the first ARGV[6] of them hashes (read with HGETALL), the rest keys tested with EXISTS; their
-- replies follow a 'new' or 'taken' claim's, in order (the other answers read nothing).
-- Returns {'new', '', reads...} | {'taken', previous owner, reads...} | {'done', response}
--   | {'running'} | {'mismatch'}.
local function with_reads(reply)
  local hashes = tonumber(ARGV[6] or '0')
  for i = 2, #KEYS do
    if i - 1 <= hashes then
      reply[#reply + 1] = redis.call('HGETALL', KEYS[i])
    else
      reply[#reply + 1] = redis.call('EXISTS', KEYS[i])
    end
  end
  return reply
end
local now = tonumber(ARGV[7])
local mine = 'running|' .. ARGV[1] .. '|' .. ARGV[3] .. '|' .. ARGV[4] .. '|'
  .. (now + tonumber(ARGV[2])) .. '|'
if redis.call('SET', KEYS[1], mine, 'NX', 'EX', ARGV[5]) then
  return with_reads({'new', ''})
end
local state, fingerprint, owner, lease_until, response
local record = redis.pcall('GET', KEYS[1])
if type(record) == 'table' and record.err then  -- a hash: the format before
  local found = redis.call('HMGET', KEYS[1], 'fingerprint', 'state', 'response', 'lease_until',
    'owner')
  fingerprint, state, response, lease_until, owner = found[1], found[2], found[3], found[4],
    found[5]
else
  state, fingerprint, owner, lease_until, response =
    string.match(record, '^([^|]*)|([^|]*)|[^|]*|([^|]*)|([^|]*)|(.*)$')
end
if fingerprint ~= ARGV[1] then
  return {'mismatch'}
end
if state == 'done' then
  return {'done', response}
end
-- A claim without a lease (written before leases existed) lapses with its key instead.
if lease_until and tonumber(lease_until) and tonumber(lease_until) < now then
  redis.call('SET', KEYS[1], mine, 'EX', ARGV[5])
  return with_reads({'taken', owner or ''})
end
return {'running'}
