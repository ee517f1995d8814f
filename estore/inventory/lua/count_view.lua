-- Count one view of a product, if it exists (GetProduct pipelines this with its read).
-- KEYS: 1 product, 2 analytics.  ARGV: 1 now (ms).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HINCRBY', KEYS[2], 'views', 1)
redis.call('HSET', KEYS[2], 'last_viewed', ARGV[1])
return 1
