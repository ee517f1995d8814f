-- Extend a running claim's lease, but only while the claim is still this one's.
-- KEYS[1] the request id's hash; ARGV[1] the claim token, ARGV[2] lease in ms, ARGV[3] now in
-- ms (the caller's clock), ARGV[4] how long the record lives from now, in seconds (as begin's
-- ARGV[5]: a claim that runs long still leaves its outcome the whole keep time).
-- Returns 1 if renewed, 0 if the claim was finished or taken over.
local found = redis.call('HMGET', KEYS[1], 'claim', 'state')
if found[1] ~= ARGV[1] or found[2] ~= 'running' then
  return 0
end
redis.call('HSET', KEYS[1], 'lease_until', tonumber(ARGV[3]) + tonumber(ARGV[2]))
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
