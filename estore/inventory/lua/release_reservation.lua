-- Give a held reservation's units back: reserved -= q, available += q. Releasing a released or
-- expired reservation is a no-op; a held one past its expiry becomes EXPIRED instead.
-- KEYS: 1 reservation, 2 product, 3 expiry index, 4-7 stock sets, 8 events.
-- ARGV: 1 now, 2 how long to keep a final reservation (ms).
-- Returns {'OK' | 'COMMITTED', reservation} | {'NOT_FOUND'}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'NOT_FOUND'}
end
local sets = {KEYS[4], KEYS[5], KEYS[6], KEYS[7]}
local f = redis.call('HMGET', KEYS[1], 'state', 'expires_at')
if f[1] == 'HELD' then
  local state, reason = 'RELEASED', 'release'
  if tonumber(f[2]) <= tonumber(ARGV[1]) then
    state, reason = 'EXPIRED', 'expire'
  end
  give_back(KEYS[1], KEYS[2], sets, KEYS[8], KEYS[3], state, reason, ARGV[1], ARGV[2])
  return {'OK', redis.call('HGETALL', KEYS[1])}
end
if f[1] == 'COMMITTED' then
  return {'COMMITTED', redis.call('HGETALL', KEYS[1])}
end
return {'OK', redis.call('HGETALL', KEYS[1])}
