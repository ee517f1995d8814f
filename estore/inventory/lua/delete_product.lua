-- Delete a product and its analytics, unless stock is held for it; the event (with no index
-- entry) takes it out of the global indexes (index_apply.lua).
-- KEYS: 1 product, 2 analytics, 3 the bucket's events.
-- ARGV: 1 expected rev, 2 now.
-- Returns {'OK'} | {'NOT_FOUND'} | {'CONFLICT'} | {'HAS_RESERVATIONS'}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'NOT_FOUND'}
end
local f = redis.call('HMGET', KEYS[1], 'rev', 'reserved', 'id')
if f[1] ~= ARGV[1] then
  return {'CONFLICT'}
end
if tonumber(f[2]) > 0 then
  return {'HAS_RESERVATIONS'}
end
redis.call('DEL', KEYS[1], KEYS[2])
emit(KEYS[3], 'PRODUCT_DELETED', f[3], '0', '0', '0', '', ARGV[2], '', '0')
return {'OK'}
