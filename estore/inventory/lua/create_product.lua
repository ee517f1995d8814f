-- Create a product in its bucket; the event it appends carries its index entry, which the
-- caller then applies to the global indexes (index_apply.lua).
-- KEYS: 1 product, 2 analytics, 3 the bucket's events.
-- ARGV: 1 fields (JSON object of strings, with 'ix'), 2 id, 3 created_at.
-- Returns {'OK'} | {'EXISTS'}.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'EXISTS'}
end
hset_json(KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'views', 0, 'stock_updates', 0)
local q = redis.call('HMGET', KEYS[1], 'quantity', 'reserved', 'ix', 'min_stock_level')
emit(KEYS[3], 'PRODUCT_CREATED', ARGV[2], q[1], q[2], '0', '', ARGV[3], q[3], q[4])
return {'OK'}
