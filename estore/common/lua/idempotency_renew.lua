-- Extend a running claim's lease, but only while the claim is still this one's.
-- KEYS[1] the request id's record (see idempotency_begin.lua); ARGV[1] the claim token,
-- ARGV[2] lease in ms, ARGV[3] now in ms (the caller's clock), ARGV[4] how long the record
-- lives from now, in seconds (as begin's ARGV[5]: a claim that runs long still leaves its
-- outcome the whole keep time).
-- Returns 1 if renewed, 0 if the claim was finished or taken over.
local record = redis.pcall('GET', KEYS[1])
if type(record) ~= 'string' then  -- gone, or a record of the format before: never this claim's
  return 0
end
local state, fingerprint, claim, owner = string.match(record, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|')
if claim ~= ARGV[1] or state ~= 'running' then
  return 0
end
redis.call('SET', KEYS[1], 'running|' .. fingerprint .. '|' .. claim .. '|' .. owner .. '|'
  .. (tonumber(ARGV[3]) + tonumber(ARGV[2])) .. '|', 'EX', ARGV[4])
return 1
