-- Recovery takes up an attempt to create an order whose call stopped renewing its lease.
-- KEYS: 1 order hash, 2 the attempt's intent hash, 3 orders being created (lease index)
-- ARGV: 1 order id
-- Returns {'WRITTEN'} (the order exists: its own recovery takes it from here; the intent is
-- dropped), {'GONE'} (no intent), or {'ABANDONED', lines}: marked abandoned, so the order can
-- no longer be written, and its lines (JSON) are for recovery to release.
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return {'WRITTEN'}
end
local lines = redis.call('HGET', KEYS[2], 'lines')
if not lines then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return {'GONE'}
end
redis.call('HSET', KEYS[2], 'state', 'abandoned')
return {'ABANDONED', lines}
