-- Claim a request id, take over a claim whose owner stopped renewing it, or report what became
-- of an earlier claim (AIP-155).
-- KEYS[1] the request id's hash; ARGV[1] fingerprint of the request, ARGV[2] lease in ms,
-- ARGV[3] this claim's token (only the claim holding it may finish it), ARGV[4] the claiming
-- instance, ARGV[5] how long the record lives from now, in seconds (the outcome's keep time and
-- a margin: recording the outcome then needs no EXPIRE of its own), ARGV[7] now, in ms (the
-- caller's clock; leases are compared on the callers' clocks).
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
local found = redis.call('HMGET', KEYS[1], 'fingerprint', 'state', 'response', 'lease_until',
  'owner')
local now = tonumber(ARGV[7])
local lease_until = now + tonumber(ARGV[2])
if not found[1] then
  redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'state', 'running', 'claim', ARGV[3],
    'owner', ARGV[4], 'lease_until', lease_until)
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return with_reads({'new', ''})
end
if found[1] ~= ARGV[1] then
  return {'mismatch'}
end
if found[2] == 'done' then
  return {'done', found[3]}
end
-- A claim without a lease (written before leases existed) lapses with its key instead.
if found[4] and tonumber(found[4]) < now then
  redis.call('HSET', KEYS[1], 'claim', ARGV[3], 'owner', ARGV[4], 'lease_until', lease_until)
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return with_reads({'taken', found[5] or ''})
end
return {'running'}
