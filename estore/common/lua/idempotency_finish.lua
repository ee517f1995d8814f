-- Record a claim's outcome, or forget the claim, but only if it is still this claim's: a call
-- that outlived its lease must not overwrite the outcome of the retry that took over.
-- KEYS[1] the request id's hash; ARGV[1] the claim token, ARGV[2] the outcome ('' = forget),
-- ARGV[3] how long to keep the outcome, in seconds. Returns 1 if done, 0 if the claim was lost.
if redis.call('HGET', KEYS[1], 'claim') ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'state', 'done', 'response', ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return 1
