-- Change a product's fields and move it between indexes, if nobody changed it since it was read.
-- KEYS: 1 product, 2 by price, 3 by name, 4 by price (nm), 5-8 stock sets, 9 events,
--   10 category of each product, 11 category parents, 12 subtree product counts,
--   [13 new category, if ARGV[6] == '1'], then the old filter sets and price band, then the
--   new ones (each laid out as for add_to_filters: n by created_at, n by price, n by name, band).
-- ARGV: 1 fields (JSON object of strings), 2 expected rev, 3 old member, 4 new member,
--   5 price, 6 has category, 7 n_old, 8 n_new, 9 now, 10 new category id ('' for none).
-- Returns {'OK', product} | {'NOT_FOUND'} | {'CONFLICT'} | {'CATEGORY_NOT_FOUND'}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'NOT_FOUND'}
end
if redis.call('HGET', KEYS[1], 'rev') ~= ARGV[2] then
  return {'CONFLICT'}
end
local first = 13
if ARGV[6] == '1' then
  if redis.call('EXISTS', KEYS[13]) == 0 then
    return {'CATEGORY_NOT_FOUND'}
  end
  first = 14
end
local id = redis.call('HGET', KEYS[1], 'id')
local old, new = ARGV[3], ARGV[4]
local n_old, n_new = tonumber(ARGV[7]), tonumber(ARGV[8])
remove_from_filters(first, n_old, id, old)
redis.call('ZREM', KEYS[3], old)
redis.call('ZREM', KEYS[4], old)
redis.call('ZREM', KEYS[6], old)
redis.call('ZREM', KEYS[8], old)
hset_json(KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'rev', 1)
local created = redis.call('HGET', KEYS[1], 'created_at')
add_to_filters(first + 3 * n_old + 1, n_new, id, new, created, ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[5], id)
redis.call('ZADD', KEYS[3], 0, new)
redis.call('ZADD', KEYS[4], ARGV[5], new)
file_product({KEYS[10], KEYS[11], KEYS[12]}, id, ARGV[10])
index_stock(KEYS[1], {KEYS[5], KEYS[6], KEYS[7], KEYS[8]})
local q = redis.call('HMGET', KEYS[1], 'quantity', 'reserved')
emit(KEYS[9], 'PRODUCT_UPDATED', id, q[1], q[2], '0', '', ARGV[9])
return {'OK', redis.call('HGETALL', KEYS[1])}
