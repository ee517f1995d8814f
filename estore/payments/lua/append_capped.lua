-- Append an entry to an order's list (notes, refunds) unless the list is full.
-- KEYS[1] order hash, KEYS[2] the list; ARGV[1] entry, ARGV[2] limit, ARGV[3] updated_at ms.
-- Returns the new length, 0 when full, -1 when the order is missing.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[3])
return redis.call('RPUSH', KEYS[2], ARGV[1])
