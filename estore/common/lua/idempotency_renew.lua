-- Extend a running claim's lease, but only while the claim is still this one's.
-- KEYS[1] the request id's hash; ARGV[1] the claim token, ARGV[2] lease in ms.
-- Returns 1 if renewed, 0 if the claim was finished or taken over.
local found = redis.call('HMGET', KEYS[1], 'claim', 'state')
if found[1] ~= ARGV[1] or found[2] ~= 'running' then
  return 0
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('HSET', KEYS[1], 'lease_until', now + tonumber(ARGV[2]))
return 1
