-- Delete a product, its analytics and every index entry, unless stock is held for it.
-- KEYS: 1 product, 2 analytics, 3 by created, 4 by price, 5 by name, 6 by price (nm),
--   7-10 stock sets, 11 events, 12 category of each product, 13 category parents,
--   14 subtree product counts, then its filter sets and price band (add_to_filters).
-- ARGV: 1 expected rev, 2 n, 3 now.
-- Returns {'OK'} | {'NOT_FOUND'} | {'CONFLICT'} | {'HAS_RESERVATIONS'}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'NOT_FOUND'}
end
local f = redis.call('HMGET', KEYS[1], 'rev', 'reserved', 'id', 'sort_key')
if f[1] ~= ARGV[1] then
  return {'CONFLICT'}
end
if tonumber(f[2]) > 0 then
  return {'HAS_RESERVATIONS'}
end
local id, member, n = f[3], f[4], tonumber(ARGV[2])
remove_from_filters(15, n, id, member)
unfile_product({KEYS[12], KEYS[13], KEYS[14]}, id)
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[4], id)
redis.call('ZREM', KEYS[5], member)
redis.call('ZREM', KEYS[6], member)
redis.call('SREM', KEYS[7], id)
redis.call('ZREM', KEYS[8], member)
redis.call('SREM', KEYS[9], id)
redis.call('ZREM', KEYS[10], member)
redis.call('DEL', KEYS[1], KEYS[2])
emit(KEYS[11], 'PRODUCT_DELETED', id, '0', '0', '0', '', ARGV[3])
return {'OK'}
