-- Claim a request id, or report what became of an earlier claim (AIP-155).
-- KEYS[1] the request id's hash; ARGV[1] fingerprint of the request, ARGV[2] lease in ms,
-- ARGV[3] this claim's token (only the claim holding it may finish it).
-- Returns {'new'} | {'done', response} | {'running'} | {'mismatch'}.
local found = redis.call('HMGET', KEYS[1], 'fingerprint', 'state', 'response')
if not found[1] then
  redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'state', 'running', 'claim', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {'new'}
end
if found[1] ~= ARGV[1] then
  return {'mismatch'}
end
if found[2] == 'done' then
  return {'done', found[3]}
end
return {'running'}
