-- Create a category under a parent (or at the root), its name unique among its siblings.
-- KEYS: 1 category, 2 siblings (the parent's children), 3 all categories by name,
--   4 category parents, [5 parent, if ARGV[5] ~= ''].
-- ARGV: 1 id, 2 name, 3 lower-cased name, 4 description, 5 parent id.
-- Returns {'OK'} | {'PARENT_NOT_FOUND'} | {'DUPLICATE'}.
if ARGV[5] ~= '' and redis.call('EXISTS', KEYS[5]) == 0 then
  return {'PARENT_NOT_FOUND'}
end
local prefix = ARGV[3] .. '\0'
local same = redis.call('ZRANGE', KEYS[2], '[' .. prefix, '(' .. ARGV[3] .. '\1', 'BYLEX',
  'LIMIT', 0, 1)
if #same > 0 then
  return {'DUPLICATE'}
end
local member = prefix .. ARGV[1]
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'name', ARGV[2], 'description', ARGV[4],
  'parent_id', ARGV[5], 'sort_key', member, 'rev', 0)
redis.call('ZADD', KEYS[2], 0, member)
redis.call('ZADD', KEYS[3], 0, member)
redis.call('HSET', KEYS[4], ARGV[1], ARGV[5])
return {'OK'}
