-- Delete a category that has no child categories and no products.
-- KEYS: 1 category, 2 its children, 3 its products (by created_at), 4 its siblings,
--   5 all categories by name, 6 category parents, 7 subtree product counts.
-- ARGV: 1 expected parent id.
-- Returns {'OK'} | {'NOT_FOUND'} | {'NOT_EMPTY'} | {'CONFLICT'}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'NOT_FOUND'}
end
local f = redis.call('HMGET', KEYS[1], 'sort_key', 'parent_id', 'id')
if f[2] ~= ARGV[1] then
  return {'CONFLICT'}
end
if redis.call('ZCARD', KEYS[2]) > 0 or redis.call('ZCARD', KEYS[3]) > 0 then
  return {'NOT_EMPTY'}
end
redis.call('ZREM', KEYS[4], f[1])
redis.call('ZREM', KEYS[5], f[1])
redis.call('DEL', KEYS[1])
redis.call('HDEL', KEYS[6], f[3])
redis.call('HDEL', KEYS[7], f[3])
return {'OK'}
