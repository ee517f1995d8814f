-- Add delta (negative removes) to a product's available stock; never below zero.
-- KEYS: 1 product, 2 analytics, 3 the bucket's events, [4 applied marker, if ARGV[5] == '1'].
-- ARGV: 1 delta, 2 reason, 3 now, 4 max quantity, 5 has marker, 6 marker ttl (ms),
--       7 request fingerprint (the marker's value).
-- Returns {'OK', product} | {'NOT_FOUND'} | {'INSUFFICIENT', available} | {'TOO_MANY', available}
--       | {'REUSED'} (the marker is another request's).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'NOT_FOUND'}
end
-- A retry of a request that already changed the stock (its answer was lost) changes nothing.
if ARGV[5] == '1' then
  local applied = redis.call('GET', KEYS[4])
  if applied == ARGV[7] then
    return {'OK', redis.call('HGETALL', KEYS[1])}
  elseif applied then
    return {'REUSED'}
  end
end
local delta = tonumber(ARGV[1])
local available = tonumber(redis.call('HGET', KEYS[1], 'quantity'))
if available + delta < 0 then
  return {'INSUFFICIENT', int(available)}
end
if available + delta > tonumber(ARGV[4]) then
  return {'TOO_MANY', int(available)}
end
redis.call('HINCRBY', KEYS[1], 'quantity', delta)
redis.call('HINCRBY', KEYS[1], 'added', delta)
redis.call('HSET', KEYS[1], 'updated_at', ARGV[3])
redis.call('HINCRBY', KEYS[2], 'stock_updates', 1)
redis.call('HSET', KEYS[2], 'last_stock_update', ARGV[3])
stock_changed(KEYS[1], KEYS[3], delta, ARGV[2], ARGV[3])
if ARGV[5] == '1' then
  redis.call('SET', KEYS[4], ARGV[7], 'PX', ARGV[6])
end
return {'OK', redis.call('HGETALL', KEYS[1])}
