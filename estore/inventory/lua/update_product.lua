-- Change a product's fields (with its new index entry 'ix'), if nobody changed it since it was
-- read; the event carries the new entry for the global indexes (index_apply.lua).
-- KEYS: 1 product, 2 the bucket's events.
-- ARGV: 1 fields (JSON object of strings), 2 expected rev, 3 now.
-- Returns {'OK', product} | {'NOT_FOUND'} | {'CONFLICT'}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'NOT_FOUND'}
end
if redis.call('HGET', KEYS[1], 'rev') ~= ARGV[2] then
  return {'CONFLICT'}
end
hset_json(KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'rev', 1)
local q = redis.call('HMGET', KEYS[1], 'id', 'quantity', 'reserved', 'ix', 'min_stock_level')
emit(KEYS[2], 'PRODUCT_UPDATED', q[1], q[2], q[3], '0', '', ARGV[3], q[4], q[5])
return {'OK', redis.call('HGETALL', KEYS[1])}
