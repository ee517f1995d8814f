-- Record a claim's outcome, or forget the claim, but only if it is still this claim's: a call
-- that outlived its lease must not overwrite the outcome of the retry that took over.
-- KEYS[1] the request id's hash; ARGV[1] the claim token, ARGV[2] the outcome ('' = forget).
-- The record already lives long enough to keep the outcome (begin and renew set its expiry to
-- the keep time plus a margin longer than a lease), so no EXPIRE here.
-- Returns 1 if done, 0 if the claim was lost.
if redis.call('HGET', KEYS[1], 'claim') ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'state', 'done', 'response', ARGV[2])
end
return 1
