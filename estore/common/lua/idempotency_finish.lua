-- Record a claim's outcome, or forget the claim, but only if it is still this claim's: a call
-- that outlived its lease must not overwrite the outcome of the retry that took over.
-- KEYS[1] the request id's record (see idempotency_begin.lua); ARGV[1] the claim token,
-- ARGV[2] the outcome ('' = forget).
-- The record already lives long enough to keep the outcome (begin and renew set its expiry to
-- the keep time plus a margin longer than a lease), so it is rewritten with KEEPTTL.
-- Returns 1 if done, 0 if the claim was lost.
local record = redis.pcall('GET', KEYS[1])
if type(record) ~= 'string' then  -- gone, or a record of the format before: never this claim's
  return 0
end
local state, fingerprint, claim, owner = string.match(record, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|')
if claim ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], 'done|' .. fingerprint .. '|' .. claim .. '|' .. owner .. '||'
    .. ARGV[2], 'KEEPTTL')
end
return 1
