-- Create a product and put it in every index.
-- KEYS: 1 product, 2 analytics, 3 by created, 4 by price, 5 by name, 6 by price (nm),
--   7-10 stock sets (in id, in nl, low id, low nl), 11 events, 12 category of each product,
--   13 category parents, 14 subtree product counts,
--   [15 category, if ARGV[5] == '1'], then n filter sets by created_at, the same n by price,
--   the same n by name, then the price band (add_to_filters).
-- ARGV: 1 fields (JSON object of strings), 2 id, 3 sort member, 4 created_at, 5 has category,
--   6 n, 7 price, 8 category id ('' for none).
-- Returns {'OK'} | {'CATEGORY_NOT_FOUND'} | {'EXISTS'}.
local id, member = ARGV[2], ARGV[3]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'EXISTS'}
end
local first = 15
if ARGV[5] == '1' then
  if redis.call('EXISTS', KEYS[15]) == 0 then
    return {'CATEGORY_NOT_FOUND'}
  end
  first = 16
end
hset_json(KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'views', 0, 'stock_updates', 0)
redis.call('ZADD', KEYS[3], ARGV[4], id)
redis.call('ZADD', KEYS[4], ARGV[7], id)
redis.call('ZADD', KEYS[5], 0, member)
redis.call('ZADD', KEYS[6], ARGV[7], member)
local n = tonumber(ARGV[6])
add_to_filters(first, n, id, member, ARGV[4], ARGV[7])
file_product({KEYS[12], KEYS[13], KEYS[14]}, id, ARGV[8])
index_stock(KEYS[1], {KEYS[7], KEYS[8], KEYS[9], KEYS[10]})
local q = redis.call('HMGET', KEYS[1], 'quantity', 'reserved')
emit(KEYS[11], 'PRODUCT_CREATED', id, q[1], q[2], '0', '', ARGV[4])
return {'OK'}
