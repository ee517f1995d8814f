-- Turn a held reservation into a sale: reserved -= q, sold += q. Committing again is a no-op.
-- A held reservation past its expiry expires here instead (its stock goes back).
-- KEYS: 1 reservation, 2 product, 3 expiry index, 4-7 stock sets, 8 events.
-- ARGV: 1 now, 2 how long to keep a final reservation (ms).
-- Returns {'OK' | 'RELEASED' | 'EXPIRED', reservation} | {'NOT_FOUND'}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'NOT_FOUND'}
end
local sets = {KEYS[4], KEYS[5], KEYS[6], KEYS[7]}
local f = redis.call('HMGET', KEYS[1], 'state', 'expires_at', 'quantity', 'id')
if f[1] == 'HELD' and tonumber(f[2]) <= tonumber(ARGV[1]) then
  give_back(KEYS[1], KEYS[2], sets, KEYS[8], KEYS[3], 'EXPIRED', 'expire', ARGV[1], ARGV[2])
  return {'EXPIRED', redis.call('HGETALL', KEYS[1])}
end
if f[1] == 'HELD' then
  local quantity = tonumber(f[3])
  if redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('HINCRBY', KEYS[2], 'reserved', -quantity)
    redis.call('HINCRBY', KEYS[2], 'sold', quantity)
    redis.call('HSET', KEYS[2], 'updated_at', ARGV[1])
    stock_changed(KEYS[2], sets, KEYS[8], 0, 'commit', ARGV[1])
  end
  redis.call('HSET', KEYS[1], 'state', 'COMMITTED')
  redis.call('ZREM', KEYS[3], f[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {'OK', redis.call('HGETALL', KEYS[1])}
end
if f[1] == 'COMMITTED' then
  return {'OK', redis.call('HGETALL', KEYS[1])}
end
return {f[1], redis.call('HGETALL', KEYS[1])}
